"""person_key, dedupe_claim: their lead is checked once per statement, not by a per-row foreign key

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-24 23:59:00

Since `lead` is partitioned (0017), a foreign key to it checks every new row with its own query
through the partitions and locks the lead's row FOR KEY SHARE: measured 36 µs per row, ten times a
check against a plain table, and the lock makes intake's later UPDATE of the same leads dearer. A
16-lead batch writes ~100 person keys and ~32 claims, so the two keys cost a fifth to a quarter
of the batch's time (measured: 26–30 ms per batch with them, 21–26 with this check). These two tables are lookups that intake writes for leads it inserted a
moment before in the same transaction, so on PostgreSQL the reference is checked by an AFTER ...
FOR EACH STATEMENT trigger over the rows the statement wrote (one primary-key probe per named lead): a key
or claim naming a lead that does not exist is refused with SQLSTATE 23503, as a foreign key would.
Unlike a foreign key it does not stop a lead's month from being detached while keys still name
its leads; those keys then match nothing (the candidate query joins `lead`) and a claim older than
its window is taken over. Money records (sales, ledger links, consents) keep their foreign keys.
SQLite (the embedded default) simply drops the two keys.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKED = {"person_key": ("INSERT",), "dedupe_claim": ("INSERT", "UPDATE")}

CHECK_FUNCTION = """
CREATE FUNCTION written_leads_exist() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    named bigint[];
BEGIN
    SELECT array_agg(DISTINCT lead_id) INTO named FROM written;
    -- one probe of the primary key per named lead (`= ANY` of an array is an index condition;
    -- an anti-join, planned without knowing how few rows `written` holds, could scan all of `lead`)
    IF named IS NOT NULL AND (SELECT count(*) FROM lead WHERE id = ANY(named)) < cardinality(named) THEN
        RAISE EXCEPTION 'insert or update on table "%" names a lead that does not exist', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME, COLUMN = 'lead_id';
    END IF;
    RETURN NULL;
END $$"""


def upgrade() -> None:
    for table in CHECKED:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_lead_id_lead", type_="foreignkey")
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(CHECK_FUNCTION)
    for table, events in CHECKED.items():
        for event in events:
            # a trigger with a transition table takes one event
            op.execute(f"CREATE TRIGGER {table}_lead_exists_{event.lower()} AFTER {event} ON {table} "
                       f"REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION written_leads_exist()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, events in CHECKED.items():
            for event in events:
                op.execute(f"DROP TRIGGER {table}_lead_exists_{event.lower()} ON {table}")
        op.execute("DROP FUNCTION written_leads_exist()")
    for table in CHECKED:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(f"fk_{table}_lead_id_lead", "lead", ["lead_id"], ["id"])
