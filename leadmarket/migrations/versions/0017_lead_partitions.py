"""lead: partitioned by month in PostgreSQL, through ids that carry their month (YYYYMM * 10^10 + n)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-24 17:20:00

Every foreign key to a lead points at `lead.id`, so `id` is the partition key: a new lead's id
default is `YYYYMM * 10^10 + nextval('lead_id_seq')` (leadmarket/partitions.py). Existing leads keep
their ids and live in the default partition. The table is rebuilt generically from the catalog
(columns, CHECKs, indexes and foreign keys as they are at this revision), in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite has no partitions; its ids stay plain
    from leadmarket.partitions import LEAD_ID_DEFAULT, ensure_partitions

    def rows(sql: str) -> list[sa.Row]:
        return list(bind.execute(sa.text(sql)))

    indexes = [r.indexdef for r in rows(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'lead' "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'lead'::regclass)")]
    foreign_keys = rows(  # every FK touching lead: its own and the ones pointing at it
        "SELECT conname, conrelid::regclass::text AS table_name, pg_get_constraintdef(oid) AS definition "
        "FROM pg_constraint WHERE contype = 'f' AND (confrelid = 'lead'::regclass OR conrelid = 'lead'::regclass)")
    for fk in foreign_keys:
        op.execute(f'ALTER TABLE "{fk.table_name}" DROP CONSTRAINT "{fk.conname}"')
    op.execute("ALTER SEQUENCE lead_id_seq OWNED BY NONE")
    op.execute("ALTER TABLE lead RENAME TO lead_unpartitioned")
    op.execute("ALTER TABLE lead_unpartitioned RENAME CONSTRAINT pk_lead TO pk_lead_unpartitioned")
    for definition in indexes:
        name = definition.split(" INDEX ", 1)[1].split(" ON ", 1)[0]
        op.execute(f"DROP INDEX {name}")
    op.execute("CREATE TABLE lead (LIKE lead_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
               "INCLUDING GENERATED INCLUDING STORAGE) PARTITION BY RANGE (id)")
    op.execute("ALTER TABLE lead ADD CONSTRAINT pk_lead PRIMARY KEY (id)")
    op.execute("CREATE TABLE lead_default PARTITION OF lead DEFAULT")
    ensure_partitions(bind)
    op.execute("INSERT INTO lead SELECT * FROM lead_unpartitioned")
    op.execute("DROP TABLE lead_unpartitioned")
    for definition in indexes:
        op.execute(definition)
    for fk in foreign_keys:
        table = "lead" if fk.table_name == "lead_unpartitioned" else fk.table_name
        op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{fk.conname}" {fk.definition.replace("lead_unpartitioned", "lead")}')
    op.execute(f"ALTER TABLE lead ALTER COLUMN id SET DEFAULT {LEAD_ID_DEFAULT}")
    op.execute("ALTER SEQUENCE lead_id_seq OWNED BY lead.id")


def downgrade() -> None:
    raise NotImplementedError("partitioned leads are not un-partitioned; restore from a backup")
