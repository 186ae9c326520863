"""Monthly range partitions in PostgreSQL for the tables that grow without bound: clicks and leads.

`click` is partitioned by `clicked_at`: one partition per UTC month (`click_p202611`). `lead` is
partitioned by `id`, and a lead's id carries the UTC month it was inserted in: the column default is
`YYYYMM * 10^10 + nextval(...)` (2026110000000042), so the key every foreign key already points at
is the partition key, and none of the eleven tables referring to a lead needs a second column.
Each table also has a default partition that catches anything outside its months (leads from before
partitioning keep their small ids there). A daily beat task keeps partitions ready a few months
ahead; if rows reached the default partition for a month that had none, creating that month moves
them over in the same transaction. Old months can then be detached or archived whole.
SQLite (the embedded default) has no partitions: there these functions do nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import Connection, text

from leadmarket.clock import utcnow

# table -> (partition key column, how a month maps to bounds of that column)
PARTITIONED = {"click": ("clicked_at", "time"), "lead": ("id", "month_id")}
MONTH_ID_FACTOR = 10_000_000_000  # ids per month: YYYYMM * factor + sequence
LEAD_ID_DEFAULT = (f"(to_char(now() AT TIME ZONE 'UTC', 'YYYYMM')::bigint * {MONTH_ID_FACTOR} "
                   "+ nextval('lead_id_seq'))")
MONTHS_AHEAD = 3
_PARTITION_NAME = re.compile(r"^(?P<table>[a-z_]+)_(?:p\d{6}|default)$")


def is_partition(name: str | None) -> bool:
    """A child partition's name (schema comparison ignores them: the models describe the parent)."""
    match = _PARTITION_NAME.match(name or "")
    return bool(match and match.group("table") in PARTITIONED)


def include_name(name: str | None, type_: str, _parent: object) -> bool:
    """Alembic hook: the models describe a partitioned parent, not its partitions."""
    return not (type_ == "table" and is_partition(name))


def include_object(obj: object, name: str | None, type_: str, reflected: bool, _compare_to: object) -> bool:
    """Alembic hook: PostgreSQL clones a foreign key to a partitioned table once per partition
    (`call_lead_id_fkey1` -> `lead_p202612`); those clones are the parent key's business."""
    if type_ == "foreign_key_constraint" and reflected:
        return not is_partition(getattr(getattr(obj, "referred_table", None), "name", None))
    return True


def month_start(year: int, month: int) -> datetime:
    return datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=UTC)


def month_id_floor(start: datetime) -> int:
    """The first lead id of the month starting at `start`."""
    return (start.year * 100 + start.month) * MONTH_ID_FACTOR


def partition_name(table: str, start: datetime) -> str:
    return f"{table}_p{start:%Y%m}"


def ensure_month(connection: Connection, table: str, start: datetime) -> bool:
    """Create the month starting at `start` if missing, moving its rows out of the default
    partition first; True if it was created. Call inside a transaction."""
    column, kind = PARTITIONED[table]
    name = partition_name(table, start)
    end = month_start(start.year, start.month + 1)
    low: datetime | int = start
    high: datetime | int = end
    if kind == "month_id":
        low, high = month_id_floor(start), month_id_floor(end)
    exists = connection.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": name}).scalar_one()
    if exists:
        return False
    # Locks the parent: concurrent inserts wait for the few milliseconds this takes.
    connection.execute(text(f'LOCK TABLE "{table}" IN SHARE ROW EXCLUSIVE MODE'))
    connection.execute(text(f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'))
    connection.execute(text(
        f'WITH moved AS (DELETE FROM "{table}_default" WHERE "{column}" >= :low AND "{column}" < :high RETURNING *) '
        f'INSERT INTO "{name}" SELECT * FROM moved'), {"low": low, "high": high})
    bounds = (f"'{start.isoformat()}'", f"'{end.isoformat()}'") if kind == "time" else (str(low), str(high))
    connection.execute(text(
        f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" FOR VALUES FROM ({bounds[0]}) TO ({bounds[1]})'))
    return True


def detach_month(connection: Connection, table: str, start: datetime, *, drop: bool = False) -> None:
    """Take a month out of its table (to archive it, or `drop` it). PostgreSQL refuses while rows
    elsewhere still refer to it, so money records are never orphaned."""
    name = partition_name(table, start)
    connection.execute(text(f'ALTER TABLE "{table}" DETACH PARTITION "{name}"'))
    if drop:
        connection.execute(text(f'DROP TABLE "{name}"'))


def ensure_partitions(connection: Connection, *, now: datetime | None = None, months_back: int = 0,
                      months_ahead: int = MONTHS_AHEAD) -> list[str]:
    """Make sure every partitioned table has its months from `months_back` ago to `months_ahead`
    ahead; returns the partitions created. Safe to run any number of times."""
    if connection.dialect.name != "postgresql":
        return []
    now = now or utcnow()
    created = []
    for table in PARTITIONED:
        if not is_partitioned(connection, table):
            continue  # not yet: a migration partitions it, then calls this
        for offset in range(-months_back, months_ahead + 1):
            start = month_start(now.year, now.month + offset)
            if ensure_month(connection, table, start):
                created.append(partition_name(table, start))
    return created


def is_partitioned(connection: Connection, table: str) -> bool:
    return connection.execute(text("SELECT EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c "
                                   "ON c.oid = p.partrelid WHERE c.relname = :table)"), {"table": table}).scalar_one()


def partitions_of(connection: Connection, table: str) -> list[str]:
    return list(connection.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :table ORDER BY c.relname"), {"table": table}
    ).scalars())
