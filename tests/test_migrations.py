"""Alembic is the only way the schema is made: upgrading an empty PostgreSQL database (the test
database, built by `leadmarket.migrate.upgrade` in conftest) gives exactly the models' schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, Column, Integer, MetaData, inspect, text

from leadmarket.migrate import alembic_config
from leadmarket.partitions import include_name, include_object
from leadmarket.registry import metadata


def schema_diff(connection, target: MetaData) -> list:
    context = MigrationContext.configure(connection, opts={
        "compare_type": True, "compare_server_default": False,
        "include_name": include_name, "include_object": include_object})
    return compare_metadata(context, target)


def test_migrated_database_matches_the_models(engine):
    with engine.connect() as connection:
        diff = schema_diff(connection, metadata())

    assert diff == [], "models and migrations differ; write a migration for:\n" + "\n".join(map(str, diff))


def test_check_constraints_match_the_models(engine):
    """Autogenerate does not compare CHECK constraints; the invariants live in them, so compare names."""
    inspector = inspect(engine)
    for table in metadata().sorted_tables:
        expected = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        expected |= {c.name for column in table.columns for c in column.constraints if isinstance(c, CheckConstraint)}
        actual = {c["name"] for c in inspector.get_check_constraints(table.name)}
        assert actual == expected, table.name


def test_the_check_notices_a_column_added_without_a_migration(engine):
    changed = MetaData(naming_convention=metadata().naming_convention)
    for table in metadata().sorted_tables:
        copy = table.to_metadata(changed)
        if table.name == "lead":
            copy.append_column(Column("shoe_size", Integer))

    with engine.connect() as connection:
        before = {summary(op) for op in schema_diff(connection, metadata())}  # others' work in progress
        diff = [summary(op) for op in schema_diff(connection, changed) if summary(op) not in before]

    assert diff == [("add_column", "lead", "shoe_size")]


def summary(op) -> tuple:
    if isinstance(op, tuple) and op[0] == "add_column":
        return op[0], op[2], op[3].name
    return (repr(op),)


def test_migrations_form_one_line_and_the_database_is_at_its_head(engine):
    heads = ScriptDirectory.from_config(alembic_config("postgresql://unused")).get_heads()
    assert len(heads) == 1, f"migrations branch: heads {heads}; chain the new one after the last"
    with engine.connect() as connection:
        current = set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    assert current == set(heads)
