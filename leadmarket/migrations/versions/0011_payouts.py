"""payouts: payout, the payable entries each covers, approvals; affiliate.stripe_account_id

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 14:59:58.550266
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadmarket.db

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('payout',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('affiliate_id', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('period_start', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('period_end', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cutoff_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('entry_count', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('approvals_needed', sa.SmallInteger(), nullable=False),
    sa.Column('hold_kind', sa.String(length=10), nullable=True),
    sa.Column('hold_note', sa.String(length=500), nullable=True),
    sa.Column('method', sa.String(length=10), nullable=True),
    sa.Column('paid_reference', sa.String(length=255), nullable=True),
    sa.Column('ledger_transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paid_at', leadmarket.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("hold_kind IS NULL OR hold_kind IN ('finance', 'fraud')", name=op.f('ck_payout_hold_kind_known')),
    sa.CheckConstraint("method IS NULL OR method IN ('stripe', 'bank')", name=op.f('ck_payout_method_known')),
    sa.CheckConstraint("status IN ('draft', 'held', 'approved', 'paying', 'paid', 'rejected', 'forfeited')", name=op.f('ck_payout_status_known')),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_payout_amount_positive')),
    sa.CheckConstraint('approvals_needed BETWEEN 1 AND 2', name=op.f('ck_payout_approvals_needed_range')),
    sa.CheckConstraint('period_start < period_end', name=op.f('ck_payout_period_ordered')),
    sa.ForeignKeyConstraint(['affiliate_id'], ['affiliate.id'], name=op.f('fk_payout_affiliate_id_affiliate')),
    sa.ForeignKeyConstraint(['ledger_transaction_id'], ['ledger_transaction.id'], name=op.f('fk_payout_ledger_transaction_id_ledger_transaction')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout')),
    sa.UniqueConstraint('affiliate_id', 'currency', 'period_start', 'period_end', name=op.f('uq_payout_affiliate_id_currency_period_start_period_end'))
    )
    op.create_index(op.f('ix_payout_affiliate_id'), 'payout', ['affiliate_id'], unique=False)
    op.create_index('ix_payout_status_id', 'payout', ['status', 'id'], unique=False)
    op.create_table('payout_approval',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payout_id', sa.Integer(), nullable=False),
    sa.Column('approver', sa.String(length=100), nullable=False),
    sa.Column('approved_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['payout_id'], ['payout.id'], name=op.f('fk_payout_approval_payout_id_payout')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout_approval')),
    sa.UniqueConstraint('payout_id', 'approver', name=op.f('uq_payout_approval_payout_id_approver'))
    )
    op.create_table('payout_entry',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('payout_id', sa.Integer(), nullable=False),
    sa.Column('ledger_entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('released', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.ForeignKeyConstraint(['ledger_entry_id'], ['ledger_entry.id'], name=op.f('fk_payout_entry_ledger_entry_id_ledger_entry')),
    sa.ForeignKeyConstraint(['payout_id'], ['payout.id'], name=op.f('fk_payout_entry_payout_id_payout')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout_entry'))
    )
    op.create_index(op.f('ix_payout_entry_payout_id'), 'payout_entry', ['payout_id'], unique=False)
    op.create_index('uq_payout_entry_live', 'payout_entry', ['ledger_entry_id'], unique=True, postgresql_where=sa.text('NOT released'), sqlite_where=sa.text('NOT released'))
    with op.batch_alter_table('affiliate', schema=None) as batch_op:  # SQLite rebuilds the table
        batch_op.add_column(sa.Column('stripe_account_id', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('affiliate', schema=None) as batch_op:
        batch_op.drop_column('stripe_account_id')
    op.drop_index('uq_payout_entry_live', table_name='payout_entry', postgresql_where=sa.text('NOT released'), sqlite_where=sa.text('NOT released'))
    op.drop_index(op.f('ix_payout_entry_payout_id'), table_name='payout_entry')
    op.drop_table('payout_entry')
    op.drop_table('payout_approval')
    op.drop_index('ix_payout_status_id', table_name='payout')
    op.drop_index(op.f('ix_payout_affiliate_id'), table_name='payout')
    op.drop_table('payout')
