"""ledger: accounts, transactions, entries (zero-sum, append-only), top-ups, Stripe events

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 12:00:00

On PostgreSQL the database itself keeps the ledger honest:
- a CONSTRAINT TRIGGER, DEFERRABLE INITIALLY DEFERRED, checks at COMMIT that every transaction
  that got entries sums to zero per currency (the idea of django-hordak), raising check_violation;
- another refuses to commit a ledger transaction without entries;
- UPDATE and DELETE on ledger_entry and ledger_transaction raise restrict_violation (append-only).
SQLite has no deferred constraint triggers; there these checks are billing.ledger.post's alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadmarket.db

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRESQL_RULES = [
    """
    CREATE FUNCTION ledger_check_zero_sum() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        unbalanced text;
    BEGIN
        SELECT currency INTO unbalanced FROM ledger_entry
         WHERE transaction_id = NEW.transaction_id
         GROUP BY currency HAVING sum(amount_minor) <> 0 LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'ledger transaction % does not sum to zero in %', NEW.transaction_id, unbalanced
                USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entry_zero_sum';
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE CONSTRAINT TRIGGER ledger_entry_zero_sum AFTER INSERT ON ledger_entry
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_zero_sum()
    """,
    """
    CREATE FUNCTION ledger_check_has_entries() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM ledger_entry WHERE transaction_id = NEW.id) THEN
            RAISE EXCEPTION 'ledger transaction % has no entries', NEW.id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_transaction_has_entries';
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE CONSTRAINT TRIGGER ledger_transaction_has_entries AFTER INSERT ON ledger_transaction
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_has_entries()
    """,
    """
    CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: post a correcting transaction instead', TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation', CONSTRAINT = TG_TABLE_NAME || '_append_only';
    END
    $$
    """,
    """
    CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON ledger_entry
        FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
    """,
    """
    CREATE TRIGGER ledger_transaction_append_only BEFORE UPDATE OR DELETE ON ledger_transaction
        FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()
    """,
]


def upgrade() -> None:
    op.create_table('ledger_transaction',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=True),
    sa.Column('memo', sa.String(length=500), nullable=True),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_transaction')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_ledger_transaction_idempotency_key'))
    )
    op.create_index(op.f('ix_ledger_transaction_reference'), 'ledger_transaction', ['reference'], unique=False)
    op.create_table('stripe_event',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('object_id', sa.String(length=255), nullable=True),
    sa.Column('received_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_event'))
    )
    op.create_table('ledger_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('advertiser_id', sa.Integer(), nullable=True),
    sa.Column('affiliate_id', sa.Integer(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('balance_minor', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(substr(kind, 1, 11) = 'advertiser_') = (advertiser_id IS NOT NULL) AND (substr(kind, 1, 10) = 'affiliate_') = (affiliate_id IS NOT NULL)", name=op.f('ck_ledger_account_owner_matches_kind')),
    sa.ForeignKeyConstraint(['advertiser_id'], ['advertiser.id'], name=op.f('fk_ledger_account_advertiser_id_advertiser')),
    sa.ForeignKeyConstraint(['affiliate_id'], ['affiliate.id'], name=op.f('fk_ledger_account_affiliate_id_affiliate')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_account')),
    sa.UniqueConstraint('id', 'currency', name=op.f('uq_ledger_account_id_currency'))
    )
    op.create_index('uq_ledger_account_advertiser', 'ledger_account', ['kind', 'advertiser_id', 'currency'], unique=True, postgresql_where=sa.text('advertiser_id IS NOT NULL'), sqlite_where=sa.text('advertiser_id IS NOT NULL'))
    op.create_index('uq_ledger_account_affiliate', 'ledger_account', ['kind', 'affiliate_id', 'currency'], unique=True, postgresql_where=sa.text('affiliate_id IS NOT NULL'), sqlite_where=sa.text('affiliate_id IS NOT NULL'))
    op.create_index('uq_ledger_account_platform', 'ledger_account', ['kind', 'currency'], unique=True, postgresql_where=sa.text('advertiser_id IS NULL AND affiliate_id IS NULL'), sqlite_where=sa.text('advertiser_id IS NULL AND affiliate_id IS NULL'))
    op.create_table('topup',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('advertiser_id', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('client_key', sa.String(length=200), nullable=True),
    sa.Column('stripe_payment_intent_id', sa.String(length=255), nullable=True),
    sa.Column('failure_code', sa.String(length=64), nullable=True),
    sa.Column('ledger_transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('created', 'pending', 'succeeded', 'failed', 'canceled')", name=op.f('ck_topup_status_known')),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_topup_amount_positive')),
    sa.ForeignKeyConstraint(['advertiser_id'], ['advertiser.id'], name=op.f('fk_topup_advertiser_id_advertiser')),
    sa.ForeignKeyConstraint(['ledger_transaction_id'], ['ledger_transaction.id'], name=op.f('fk_topup_ledger_transaction_id_ledger_transaction')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_topup')),
    sa.UniqueConstraint('advertiser_id', 'client_key', name=op.f('uq_topup_advertiser_id_client_key')),
    sa.UniqueConstraint('stripe_payment_intent_id', name=op.f('uq_topup_stripe_payment_intent_id'))
    )
    op.create_index(op.f('ix_topup_advertiser_id'), 'topup', ['advertiser_id'], unique=False)
    op.create_table('ledger_entry',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.CheckConstraint('amount_minor <> 0', name=op.f('ck_ledger_entry_amount_not_zero')),
    sa.ForeignKeyConstraint(['account_id', 'currency'], ['ledger_account.id', 'ledger_account.currency'], name=op.f('fk_ledger_entry_account_id_ledger_account')),
    sa.ForeignKeyConstraint(['transaction_id'], ['ledger_transaction.id'], name=op.f('fk_ledger_entry_transaction_id_ledger_transaction')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entry'))
    )
    op.create_index('ix_ledger_entry_account_id_id', 'ledger_entry', ['account_id', 'id'], unique=False)
    op.create_index(op.f('ix_ledger_entry_transaction_id'), 'ledger_entry', ['transaction_id'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_RULES:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Dropping the tables drops their triggers; the functions go by hand.
        op.execute("DROP TRIGGER ledger_transaction_append_only ON ledger_transaction")
        op.execute("DROP TRIGGER ledger_entry_append_only ON ledger_entry")
        op.execute("DROP TRIGGER ledger_transaction_has_entries ON ledger_transaction")
        op.execute("DROP TRIGGER ledger_entry_zero_sum ON ledger_entry")
        for function in ("ledger_refuse_change", "ledger_check_has_entries", "ledger_check_zero_sum"):
            op.execute(f"DROP FUNCTION {function}()")
    op.drop_index(op.f('ix_ledger_entry_transaction_id'), table_name='ledger_entry')
    op.drop_index('ix_ledger_entry_account_id_id', table_name='ledger_entry')
    op.drop_table('ledger_entry')
    op.drop_index(op.f('ix_topup_advertiser_id'), table_name='topup')
    op.drop_table('topup')
    op.drop_index('uq_ledger_account_platform', table_name='ledger_account', postgresql_where=sa.text('advertiser_id IS NULL AND affiliate_id IS NULL'), sqlite_where=sa.text('advertiser_id IS NULL AND affiliate_id IS NULL'))
    op.drop_index('uq_ledger_account_affiliate', table_name='ledger_account', postgresql_where=sa.text('affiliate_id IS NOT NULL'), sqlite_where=sa.text('affiliate_id IS NOT NULL'))
    op.drop_index('uq_ledger_account_advertiser', table_name='ledger_account', postgresql_where=sa.text('advertiser_id IS NOT NULL'), sqlite_where=sa.text('advertiser_id IS NOT NULL'))
    op.drop_table('ledger_account')
    op.drop_table('stripe_event')
    op.drop_index(op.f('ix_ledger_transaction_reference'), table_name='ledger_transaction')
    op.drop_table('ledger_transaction')
