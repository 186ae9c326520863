"""delivery, delivery attempts, returns; vertical.return_window_days, advertiser.return_rules

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 14:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import leadmarket.db

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('delivery',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sale_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('lease_until', leadmarket.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('delivered_at', leadmarket.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'sending', 'retrying', 'delivered', 'dead', 'no_endpoint')", name=op.f('ck_delivery_status_known')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_delivery_attempts_not_negative')),
    sa.ForeignKeyConstraint(['sale_id'], ['sale.id'], name=op.f('fk_delivery_sale_id_sale')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery')),
    sa.UniqueConstraint('sale_id', name=op.f('uq_delivery_sale_id'))
    )
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_index('ix_delivery_status_updated_at', ['status', 'updated_at'], unique=False)

    op.create_table('sale_return',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sale_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('advertiser_id', sa.Integer(), nullable=False),
    sa.Column('affiliate_id', sa.Integer(), nullable=False),
    sa.Column('sub1', sa.String(length=255), nullable=True),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('note', sa.String(length=1000), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('auto_approved', sa.Boolean(), nullable=False),
    sa.Column('refund_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', leadmarket.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=100), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name=op.f('ck_sale_return_status_known')),
    sa.ForeignKeyConstraint(['advertiser_id'], ['advertiser.id'], name=op.f('fk_sale_return_advertiser_id_advertiser')),
    sa.ForeignKeyConstraint(['affiliate_id'], ['affiliate.id'], name=op.f('fk_sale_return_affiliate_id_affiliate')),
    sa.ForeignKeyConstraint(['sale_id'], ['sale.id'], name=op.f('fk_sale_return_sale_id_sale')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sale_return')),
    sa.UniqueConstraint('sale_id', name=op.f('uq_sale_return_sale_id'))
    )
    with op.batch_alter_table('sale_return', schema=None) as batch_op:
        batch_op.create_index('ix_sale_return_advertiser_id_created_at', ['advertiser_id', 'created_at'], unique=False)
        batch_op.create_index('ix_sale_return_affiliate_id_created_at', ['affiliate_id', 'created_at'], unique=False)

    op.create_table('delivery_attempt',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('delivery_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('attempted_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status_code', sa.SmallInteger(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('error', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['delivery.id'], name=op.f('fk_delivery_attempt_delivery_id_delivery')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_attempt'))
    )
    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_attempt_delivery_id'), ['delivery_id'], unique=False)

    with op.batch_alter_table('advertiser', schema=None) as batch_op:
        batch_op.add_column(sa.Column('return_rules', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))

    with op.batch_alter_table('vertical', schema=None) as batch_op:
        batch_op.add_column(sa.Column('return_window_days', sa.Integer(), server_default='7', nullable=False))
        batch_op.create_check_constraint(op.f('ck_vertical_return_window_not_negative'), 'return_window_days >= 0')


def downgrade() -> None:

    with op.batch_alter_table('vertical', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_vertical_return_window_not_negative'), type_='check')
        batch_op.drop_column('return_window_days')

    with op.batch_alter_table('advertiser', schema=None) as batch_op:
        batch_op.drop_column('return_rules')

    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_attempt_delivery_id'))

    op.drop_table('delivery_attempt')
    with op.batch_alter_table('sale_return', schema=None) as batch_op:
        batch_op.drop_index('ix_sale_return_affiliate_id_created_at')
        batch_op.drop_index('ix_sale_return_advertiser_id_created_at')

    op.drop_table('sale_return')
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_status_updated_at')

    op.drop_table('delivery')
