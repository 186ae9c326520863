"""orders and sales: advertiser orders, order usage per period, sales, sale tallies, person sales

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 14:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import leadmarket.db

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('advertiser_order',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('advertiser_id', sa.Integer(), nullable=False),
    sa.Column('vertical_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('price_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('exclusive', sa.Boolean(), nullable=False),
    sa.Column('countries', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('regions', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('postal_prefixes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('ranges', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('choices', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('min_temperature', sa.String(length=10), nullable=True),
    sa.Column('max_fraud_score', sa.SmallInteger(), nullable=True),
    sa.Column('cap_hourly', sa.Integer(), nullable=True),
    sa.Column('cap_daily', sa.Integer(), nullable=True),
    sa.Column('cap_monthly', sa.Integer(), nullable=True),
    sa.Column('budget_daily_minor', sa.BigInteger(), nullable=True),
    sa.Column('budget_monthly_minor', sa.BigInteger(), nullable=True),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('schedule_slots', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('webhook_url', sa.String(length=2000), nullable=True),
    sa.Column('webhook_secret', sa.String(length=200), nullable=True),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("min_temperature IS NULL OR min_temperature IN ('cold', 'warm', 'hot')", name=op.f('ck_advertiser_order_min_temperature_known')),
    sa.CheckConstraint("status IN ('active', 'paused')", name=op.f('ck_advertiser_order_status_known')),
    sa.CheckConstraint('(budget_daily_minor IS NULL OR budget_daily_minor >= 0) AND (budget_monthly_minor IS NULL OR budget_monthly_minor >= 0)', name=op.f('ck_advertiser_order_budgets_not_negative')),
    sa.CheckConstraint('(cap_hourly IS NULL OR cap_hourly >= 0) AND (cap_daily IS NULL OR cap_daily >= 0) AND (cap_monthly IS NULL OR cap_monthly >= 0)', name=op.f('ck_advertiser_order_caps_not_negative')),
    sa.CheckConstraint('max_fraud_score IS NULL OR max_fraud_score BETWEEN 0 AND 100', name=op.f('ck_advertiser_order_max_fraud_score_range')),
    sa.CheckConstraint('price_minor >= 0', name=op.f('ck_advertiser_order_price_not_negative')),
    sa.ForeignKeyConstraint(['advertiser_id'], ['advertiser.id'], name=op.f('fk_advertiser_order_advertiser_id_advertiser')),
    sa.ForeignKeyConstraint(['vertical_id'], ['vertical.id'], name=op.f('fk_advertiser_order_vertical_id_vertical')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_advertiser_order'))
    )
    op.create_index('ix_advertiser_order_advertiser_id_id', 'advertiser_order', ['advertiser_id', 'id'], unique=False)
    op.create_index('ix_advertiser_order_vertical_id_status', 'advertiser_order', ['vertical_id', 'status'], unique=False)
    op.create_table('order_book_version',
    sa.Column('vertical_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['vertical_id'], ['vertical.id'], name=op.f('fk_order_book_version_vertical_id_vertical')),
    sa.PrimaryKeyConstraint('vertical_id', name=op.f('pk_order_book_version'))
    )
    op.create_table('order_usage',
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=5), nullable=False),
    sa.Column('starts_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.Column('spent_minor', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("period IN ('hour', 'day', 'month')", name=op.f('ck_order_usage_period_known')),
    sa.CheckConstraint('used >= 0 AND spent_minor >= 0', name=op.f('ck_order_usage_usage_not_negative')),
    sa.ForeignKeyConstraint(['order_id'], ['advertiser_order.id'], name=op.f('fk_order_usage_order_id_advertiser_order'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('order_id', 'period', 'starts_at', name=op.f('pk_order_usage'))
    )
    op.create_table('lead_sale_count',
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sales', sa.Integer(), nullable=False),
    sa.Column('max_sales', sa.Integer(), nullable=False),
    sa.Column('exclusive', sa.Boolean(), nullable=False),
    sa.CheckConstraint('NOT exclusive OR max_sales = 1', name=op.f('ck_lead_sale_count_exclusive_sells_once')),
    sa.CheckConstraint('sales >= 0 AND sales <= max_sales', name=op.f('ck_lead_sale_count_sales_within_max')),
    sa.ForeignKeyConstraint(['lead_id'], ['lead.id'], name=op.f('fk_lead_sale_count_lead_id_lead')),
    sa.PrimaryKeyConstraint('lead_id', name=op.f('pk_lead_sale_count'))
    )
    op.create_table('person_sale',
    sa.Column('advertiser_id', sa.Integer(), nullable=False),
    sa.Column('vertical_id', sa.Integer(), nullable=False),
    sa.Column('key_kind', sa.String(length=10), nullable=False),
    sa.Column('key_digest', sa.String(length=64), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sold_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("key_kind IN ('phone', 'email')", name=op.f('ck_person_sale_key_kind_known')),
    sa.ForeignKeyConstraint(['advertiser_id'], ['advertiser.id'], name=op.f('fk_person_sale_advertiser_id_advertiser')),
    sa.ForeignKeyConstraint(['lead_id'], ['lead.id'], name=op.f('fk_person_sale_lead_id_lead')),
    sa.ForeignKeyConstraint(['vertical_id'], ['vertical.id'], name=op.f('fk_person_sale_vertical_id_vertical')),
    sa.PrimaryKeyConstraint('advertiser_id', 'vertical_id', 'key_kind', 'key_digest', name=op.f('pk_person_sale'))
    )
    op.create_index(op.f('ix_person_sale_lead_id'), 'person_sale', ['lead_id'], unique=False)
    op.create_table('sale',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('advertiser_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('price_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('exclusive', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(channel = 'order') = (order_id IS NOT NULL)", name=op.f('ck_sale_order_matches_channel')),
    sa.CheckConstraint("channel IN ('order', 'targeted', 'store', 'ping_post')", name=op.f('ck_sale_channel_known')),
    sa.CheckConstraint("status IN ('sold', 'returned')", name=op.f('ck_sale_status_known')),
    sa.CheckConstraint('price_minor >= 0', name=op.f('ck_sale_price_not_negative')),
    sa.ForeignKeyConstraint(['advertiser_id'], ['advertiser.id'], name=op.f('fk_sale_advertiser_id_advertiser')),
    sa.ForeignKeyConstraint(['lead_id'], ['lead.id'], name=op.f('fk_sale_lead_id_lead')),
    sa.ForeignKeyConstraint(['order_id'], ['advertiser_order.id'], name=op.f('fk_sale_order_id_advertiser_order')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sale')),
    sa.UniqueConstraint('lead_id', 'advertiser_id', name=op.f('uq_sale_lead_id_advertiser_id'))
    )
    op.create_index('ix_sale_advertiser_id_created_at', 'sale', ['advertiser_id', 'created_at'], unique=False)
    op.create_index('ix_sale_order_id_created_at', 'sale', ['order_id', 'created_at'], unique=False)
    op.create_index('uq_sale_exclusive_lead', 'sale', ['lead_id'], unique=True, postgresql_where=sa.text('exclusive'), sqlite_where=sa.text('exclusive'))


def downgrade() -> None:
    op.drop_index('uq_sale_exclusive_lead', table_name='sale', postgresql_where=sa.text('exclusive'), sqlite_where=sa.text('exclusive'))
    op.drop_index('ix_sale_order_id_created_at', table_name='sale')
    op.drop_index('ix_sale_advertiser_id_created_at', table_name='sale')
    op.drop_table('sale')
    op.drop_index(op.f('ix_person_sale_lead_id'), table_name='person_sale')
    op.drop_table('person_sale')
    op.drop_table('lead_sale_count')
    op.drop_table('order_usage')
    op.drop_table('order_book_version')
    op.drop_index('ix_advertiser_order_vertical_id_status', table_name='advertiser_order')
    op.drop_index('ix_advertiser_order_advertiser_id_id', table_name='advertiser_order')
    op.drop_table('advertiser_order')
