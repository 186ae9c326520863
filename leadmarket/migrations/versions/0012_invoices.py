"""invoices: postpaid monthly invoices and their lines (one per offer)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 18:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadmarket.db

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('invoice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('advertiser_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('period_start', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('period_end', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('stripe_customer_id', sa.String(length=255), nullable=True),
    sa.Column('stripe_invoice_id', sa.String(length=255), nullable=True),
    sa.Column('stripe_number', sa.String(length=100), nullable=True),
    sa.Column('hosted_invoice_url', sa.String(length=2000), nullable=True),
    sa.Column('amount_paid_minor', sa.BigInteger(), nullable=True),
    sa.Column('ledger_transaction_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finalized_at', leadmarket.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', leadmarket.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('paid_at', leadmarket.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('draft', 'open', 'paid')", name=op.f('ck_invoice_status_known')),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_invoice_amount_positive')),
    sa.CheckConstraint('period_start < period_end', name=op.f('ck_invoice_period_ordered')),
    sa.ForeignKeyConstraint(['advertiser_id'], ['advertiser.id'], name=op.f('fk_invoice_advertiser_id_advertiser')),
    sa.ForeignKeyConstraint(['ledger_transaction_id'], ['ledger_transaction.id'], name=op.f('fk_invoice_ledger_transaction_id_ledger_transaction')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice')),
    sa.UniqueConstraint('advertiser_id', 'period', name=op.f('uq_invoice_advertiser_id_period')),
    sa.UniqueConstraint('stripe_invoice_id', name=op.f('uq_invoice_stripe_invoice_id'))
    )
    op.create_table('invoice_line',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('vertical_id', sa.Integer(), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('sales', sa.Integer(), nullable=False),
    sa.Column('conversions', sa.Integer(), nullable=False),
    sa.Column('returns', sa.Integer(), nullable=False),
    sa.Column('charged_minor', sa.BigInteger(), nullable=False),
    sa.Column('refunded_minor', sa.BigInteger(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('stripe_invoice_item_id', sa.String(length=255), nullable=True),
    sa.CheckConstraint('amount_minor <> 0', name=op.f('ck_invoice_line_amount_not_zero')),
    sa.CheckConstraint('charged_minor >= 0 AND refunded_minor >= 0', name=op.f('ck_invoice_line_parts_not_negative')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoice.id'], name=op.f('fk_invoice_line_invoice_id_invoice')),
    sa.ForeignKeyConstraint(['offer_id'], ['offer.id'], name=op.f('fk_invoice_line_offer_id_offer')),
    sa.ForeignKeyConstraint(['vertical_id'], ['vertical.id'], name=op.f('fk_invoice_line_vertical_id_vertical')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_line')),
    sa.UniqueConstraint('invoice_id', 'offer_id', name=op.f('uq_invoice_line_invoice_id_offer_id')),
    sa.UniqueConstraint('stripe_invoice_item_id', name=op.f('uq_invoice_line_stripe_invoice_item_id'))
    )


def downgrade() -> None:
    op.drop_table('invoice_line')
    op.drop_table('invoice')
