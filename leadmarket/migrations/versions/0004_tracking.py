"""tracking: links, clicks, traffic costs, conversions, postbacks, stats rollups

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import leadmarket.db

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('click',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('click_id', sa.String(length=40), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('affiliate_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('sub1', sa.String(length=255), nullable=True),
    sa.Column('sub2', sa.String(length=255), nullable=True),
    sa.Column('sub3', sa.String(length=255), nullable=True),
    sa.Column('sub4', sa.String(length=255), nullable=True),
    sa.Column('sub5', sa.String(length=255), nullable=True),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('user_agent', sa.String(length=500), nullable=True),
    sa.Column('referrer', sa.String(length=1000), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('cost_minor', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('is_unique', sa.Boolean(), nullable=False),
    sa.Column('clicked_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('cost_minor IS NULL OR cost_minor >= 0', name=op.f('ck_click_cost_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_click')),
    sa.UniqueConstraint('click_id', name=op.f('uq_click_click_id'))
    )
    op.create_index('ix_click_affiliate_id_offer_id_clicked_at', 'click', ['affiliate_id', 'offer_id', 'clicked_at'], unique=False)
    op.create_index('ix_click_clicked_at', 'click', ['clicked_at'], unique=False)
    op.create_table('stats_activity_daily',
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('leads', sa.BigInteger(), nullable=False),
    sa.Column('accepted', sa.BigInteger(), nullable=False),
    sa.Column('sold', sa.BigInteger(), nullable=False),
    sa.Column('review', sa.BigInteger(), nullable=False),
    sa.Column('rejected', sa.BigInteger(), nullable=False),
    sa.Column('conversions', sa.BigInteger(), nullable=False),
    sa.Column('approved_conversions', sa.BigInteger(), nullable=False),
    sa.Column('commission_minor', sa.BigInteger(), nullable=False),
    sa.Column('revenue_minor', sa.BigInteger(), nullable=False),
    sa.Column('cost_minor', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('affiliate_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('sub1', sa.String(length=255), nullable=False),
    sa.Column('sub2', sa.String(length=255), nullable=False),
    sa.Column('sub3', sa.String(length=255), nullable=False),
    sa.Column('sub4', sa.String(length=255), nullable=False),
    sa.Column('sub5', sa.String(length=255), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.PrimaryKeyConstraint('day', 'affiliate_id', 'offer_id', 'sub1', 'sub2', 'sub3', 'sub4', 'sub5', 'country', name=op.f('pk_stats_activity_daily'))
    )
    op.create_index('ix_stats_activity_daily_affiliate_id_day', 'stats_activity_daily', ['affiliate_id', 'day'], unique=False)
    op.create_table('stats_activity_offer_daily',
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('leads', sa.BigInteger(), nullable=False),
    sa.Column('accepted', sa.BigInteger(), nullable=False),
    sa.Column('sold', sa.BigInteger(), nullable=False),
    sa.Column('review', sa.BigInteger(), nullable=False),
    sa.Column('rejected', sa.BigInteger(), nullable=False),
    sa.Column('conversions', sa.BigInteger(), nullable=False),
    sa.Column('approved_conversions', sa.BigInteger(), nullable=False),
    sa.Column('commission_minor', sa.BigInteger(), nullable=False),
    sa.Column('revenue_minor', sa.BigInteger(), nullable=False),
    sa.Column('cost_minor', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('affiliate_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.PrimaryKeyConstraint('day', 'affiliate_id', 'offer_id', 'country', name=op.f('pk_stats_activity_offer_daily'))
    )
    op.create_index('ix_stats_activity_offer_daily_affiliate_id_day', 'stats_activity_offer_daily', ['affiliate_id', 'day'], unique=False)
    op.create_table('stats_click_daily',
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('clicks', sa.BigInteger(), nullable=False),
    sa.Column('unique_clicks', sa.BigInteger(), nullable=False),
    sa.Column('cost_minor', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('affiliate_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('sub1', sa.String(length=255), nullable=False),
    sa.Column('sub2', sa.String(length=255), nullable=False),
    sa.Column('sub3', sa.String(length=255), nullable=False),
    sa.Column('sub4', sa.String(length=255), nullable=False),
    sa.Column('sub5', sa.String(length=255), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.PrimaryKeyConstraint('day', 'affiliate_id', 'offer_id', 'sub1', 'sub2', 'sub3', 'sub4', 'sub5', 'country', name=op.f('pk_stats_click_daily'))
    )
    op.create_index('ix_stats_click_daily_affiliate_id_day', 'stats_click_daily', ['affiliate_id', 'day'], unique=False)
    op.create_table('stats_click_offer_daily',
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('clicks', sa.BigInteger(), nullable=False),
    sa.Column('unique_clicks', sa.BigInteger(), nullable=False),
    sa.Column('cost_minor', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('affiliate_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.PrimaryKeyConstraint('day', 'affiliate_id', 'offer_id', 'country', name=op.f('pk_stats_click_offer_daily'))
    )
    op.create_index('ix_stats_click_offer_daily_affiliate_id_day', 'stats_click_offer_daily', ['affiliate_id', 'day'], unique=False)
    op.create_table('stats_rejection_daily',
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('rejected', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('affiliate_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('sub1', sa.String(length=255), nullable=False),
    sa.Column('sub2', sa.String(length=255), nullable=False),
    sa.Column('sub3', sa.String(length=255), nullable=False),
    sa.Column('sub4', sa.String(length=255), nullable=False),
    sa.Column('sub5', sa.String(length=255), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.PrimaryKeyConstraint('day', 'affiliate_id', 'offer_id', 'sub1', 'sub2', 'sub3', 'sub4', 'sub5', 'country', 'reason', name=op.f('pk_stats_rejection_daily'))
    )
    op.create_index('ix_stats_rejection_daily_affiliate_id_day', 'stats_rejection_daily', ['affiliate_id', 'day'], unique=False)
    op.create_table('stats_rejection_offer_daily',
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('rejected', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('affiliate_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.PrimaryKeyConstraint('day', 'affiliate_id', 'offer_id', 'country', 'reason', name=op.f('pk_stats_rejection_offer_daily'))
    )
    op.create_index('ix_stats_rejection_offer_daily_affiliate_id_day', 'stats_rejection_offer_daily', ['affiliate_id', 'day'], unique=False)
    op.create_table('stats_stale_day',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('marked_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_stats_stale_day'))
    )
    op.create_table('advertiser_postback_token',
    sa.Column('advertiser_id', sa.Integer(), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('display_prefix', sa.String(length=12), nullable=False),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['advertiser_id'], ['advertiser.id'], name=op.f('fk_advertiser_postback_token_advertiser_id_advertiser')),
    sa.PrimaryKeyConstraint('advertiser_id', name=op.f('pk_advertiser_postback_token')),
    sa.UniqueConstraint('token_digest', name=op.f('uq_advertiser_postback_token_token_digest'))
    )
    op.create_table('postback_template',
    sa.Column('affiliate_id', sa.Integer(), nullable=False),
    sa.Column('url_template', sa.String(length=2000), nullable=False),
    sa.Column('events', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['affiliate_id'], ['affiliate.id'], name=op.f('fk_postback_template_affiliate_id_affiliate')),
    sa.PrimaryKeyConstraint('affiliate_id', name=op.f('pk_postback_template'))
    )
    op.create_table('conversion_cap_day',
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.CheckConstraint('used >= 0', name=op.f('ck_conversion_cap_day_used_not_negative')),
    sa.ForeignKeyConstraint(['offer_id'], ['offer.id'], name=op.f('fk_conversion_cap_day_offer_id_offer')),
    sa.PrimaryKeyConstraint('offer_id', 'day', name=op.f('pk_conversion_cap_day'))
    )
    op.create_table('tracking_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('affiliate_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('sub1', sa.String(length=255), nullable=True),
    sa.Column('sub2', sa.String(length=255), nullable=True),
    sa.Column('sub3', sa.String(length=255), nullable=True),
    sa.Column('sub4', sa.String(length=255), nullable=True),
    sa.Column('sub5', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('active', 'paused')", name=op.f('ck_tracking_link_status_known')),
    sa.ForeignKeyConstraint(['affiliate_id'], ['affiliate.id'], name=op.f('fk_tracking_link_affiliate_id_affiliate')),
    sa.ForeignKeyConstraint(['offer_id'], ['offer.id'], name=op.f('fk_tracking_link_offer_id_offer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tracking_link')),
    sa.UniqueConstraint('code', name=op.f('uq_tracking_link_code'))
    )
    op.create_index('ix_tracking_link_affiliate_id_offer_id', 'tracking_link', ['affiliate_id', 'offer_id'], unique=False)
    op.create_index(op.f('ix_tracking_link_offer_id'), 'tracking_link', ['offer_id'], unique=False)
    op.create_table('traffic_cost',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('affiliate_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('sub1', sa.String(length=255), nullable=False),
    sa.Column('sub2', sa.String(length=255), nullable=False),
    sa.Column('sub3', sa.String(length=255), nullable=False),
    sa.Column('sub4', sa.String(length=255), nullable=False),
    sa.Column('sub5', sa.String(length=255), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount_minor >= 0', name=op.f('ck_traffic_cost_amount_not_negative')),
    sa.ForeignKeyConstraint(['affiliate_id'], ['affiliate.id'], name=op.f('fk_traffic_cost_affiliate_id_affiliate')),
    sa.ForeignKeyConstraint(['offer_id'], ['offer.id'], name=op.f('fk_traffic_cost_offer_id_offer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_traffic_cost')),
    sa.UniqueConstraint('affiliate_id', 'offer_id', 'day', 'sub1', 'sub2', 'sub3', 'sub4', 'sub5', name='uq_traffic_cost_slice')
    )
    op.create_index('ix_traffic_cost_day', 'traffic_cost', ['day'], unique=False)
    op.create_index(op.f('ix_traffic_cost_offer_id'), 'traffic_cost', ['offer_id'], unique=False)
    op.create_table('conversion',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('advertiser_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('affiliate_id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('click_id', sa.String(length=64), nullable=True),
    sa.Column('sub1', sa.String(length=255), nullable=True),
    sa.Column('sub2', sa.String(length=255), nullable=True),
    sa.Column('sub3', sa.String(length=255), nullable=True),
    sa.Column('sub4', sa.String(length=255), nullable=True),
    sa.Column('sub5', sa.String(length=255), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('external_customer_id', sa.String(length=200), nullable=True),
    sa.Column('amount_minor', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('payout_minor', sa.BigInteger(), nullable=False),
    sa.Column('revenue_minor', sa.BigInteger(), nullable=False),
    sa.Column('cap_day', sa.Date(), nullable=True),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', leadmarket.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('charged_at', leadmarket.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status = 'approved' OR (payout_minor = 0 AND revenue_minor = 0)", name=op.f('ck_conversion_money_only_when_approved')),
    sa.CheckConstraint("status IN ('pending', 'approved', 'rejected', 'over_cap')", name=op.f('ck_conversion_status_known')),
    sa.CheckConstraint('amount_minor IS NULL OR amount_minor >= 0', name=op.f('ck_conversion_amount_not_negative')),
    sa.CheckConstraint('lead_id IS NOT NULL OR click_id IS NOT NULL', name=op.f('ck_conversion_has_click_or_lead')),
    sa.CheckConstraint('payout_minor >= 0 AND revenue_minor >= 0', name=op.f('ck_conversion_money_not_negative')),
    sa.ForeignKeyConstraint(['advertiser_id'], ['advertiser.id'], name=op.f('fk_conversion_advertiser_id_advertiser')),
    sa.ForeignKeyConstraint(['affiliate_id'], ['affiliate.id'], name=op.f('fk_conversion_affiliate_id_affiliate')),
    sa.ForeignKeyConstraint(['lead_id'], ['lead.id'], name=op.f('fk_conversion_lead_id_lead')),
    sa.ForeignKeyConstraint(['offer_id'], ['offer.id'], name=op.f('fk_conversion_offer_id_offer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversion')),
    sa.UniqueConstraint('advertiser_id', 'external_id', name=op.f('uq_conversion_advertiser_id_external_id'))
    )
    op.create_index('ix_conversion_advertiser_id_created_at', 'conversion', ['advertiser_id', 'created_at'], unique=False)
    op.create_index('ix_conversion_affiliate_id_created_at', 'conversion', ['affiliate_id', 'created_at'], unique=False)
    op.create_index(op.f('ix_conversion_click_id'), 'conversion', ['click_id'], unique=False)
    op.create_index('ix_conversion_created_at', 'conversion', ['created_at'], unique=False)
    op.create_index(op.f('ix_conversion_lead_id'), 'conversion', ['lead_id'], unique=False)
    op.create_table('postback',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('affiliate_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=80), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('conversion_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', leadmarket.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', leadmarket.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("event IN ('lead_accepted', 'lead_sold', 'lead_rejected', 'lead_returned', 'conversion_approved')", name=op.f('ck_postback_event_known')),
    sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name=op.f('ck_postback_status_known')),
    sa.ForeignKeyConstraint(['affiliate_id'], ['affiliate.id'], name=op.f('fk_postback_affiliate_id_affiliate')),
    sa.ForeignKeyConstraint(['conversion_id'], ['conversion.id'], name=op.f('fk_postback_conversion_id_conversion')),
    sa.ForeignKeyConstraint(['lead_id'], ['lead.id'], name=op.f('fk_postback_lead_id_lead')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_postback')),
    sa.UniqueConstraint('subject', name=op.f('uq_postback_subject'))
    )
    op.create_index('ix_postback_affiliate_id_created_at', 'postback', ['affiliate_id', 'created_at'], unique=False)
    op.create_index('ix_postback_status_next_attempt_at', 'postback', ['status', 'next_attempt_at'], unique=False)
    op.create_table('postback_attempt',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('postback_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('attempted_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=200), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['postback_id'], ['postback.id'], name=op.f('fk_postback_attempt_postback_id_postback')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_postback_attempt'))
    )
    op.create_index(op.f('ix_postback_attempt_postback_id'), 'postback_attempt', ['postback_id'], unique=False)
    with op.batch_alter_table('offer') as batch:  # batch: SQLite cannot add a CHECK in place
        batch.add_column(sa.Column('daily_conversion_cap', sa.Integer(), nullable=True))
        batch.create_check_constraint(op.f('ck_offer_daily_conversion_cap_positive'), 'daily_conversion_cap > 0')


def downgrade() -> None:
    with op.batch_alter_table('offer') as batch:
        batch.drop_constraint(op.f('ck_offer_daily_conversion_cap_positive'), type_='check')
        batch.drop_column('daily_conversion_cap')
    op.drop_table('postback_attempt')
    op.drop_table('postback')
    op.drop_table('conversion')
    op.drop_table('traffic_cost')
    op.drop_table('tracking_link')
    op.drop_table('conversion_cap_day')
    op.drop_table('postback_template')
    op.drop_table('advertiser_postback_token')
    op.drop_table('stats_stale_day')
    op.drop_table('stats_rejection_offer_daily')
    op.drop_table('stats_rejection_daily')
    op.drop_table('stats_click_offer_daily')
    op.drop_table('stats_click_daily')
    op.drop_table('stats_activity_offer_daily')
    op.drop_table('stats_activity_daily')
    op.drop_table('click')
