"""ping-post: external buyers, auctions (pings) and each buyer's bid and post answer

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 14:42:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import leadmarket.db

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ping_buyer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('advertiser_id', sa.Integer(), nullable=False),
    sa.Column('vertical_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('ping_url', sa.String(length=2000), nullable=False),
    sa.Column('post_url', sa.String(length=2000), nullable=False),
    sa.Column('secret', sa.String(length=200), nullable=False),
    sa.Column('timeout_ms', sa.Integer(), server_default='1000', nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('active', 'paused')", name=op.f('ck_ping_buyer_status_known')),
    sa.CheckConstraint('timeout_ms BETWEEN 50 AND 10000', name=op.f('ck_ping_buyer_timeout_ms_range')),
    sa.ForeignKeyConstraint(['advertiser_id'], ['advertiser.id'], name=op.f('fk_ping_buyer_advertiser_id_advertiser')),
    sa.ForeignKeyConstraint(['vertical_id'], ['vertical.id'], name=op.f('fk_ping_buyer_vertical_id_vertical')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ping_buyer'))
    )
    op.create_index(op.f('ix_ping_buyer_advertiser_id'), 'ping_buyer', ['advertiser_id'], unique=False)
    op.create_index('ix_ping_buyer_vertical_id_status', 'ping_buyer', ['vertical_id', 'status'], unique=False)
    op.create_table('ping',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('affiliate_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('vertical_id', sa.Integer(), nullable=False),
    sa.Column('request', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('best_bid_minor', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('posted_at', leadmarket.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('sold_to_buyer_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('open', 'posting', 'posted')", name=op.f('ck_ping_status_known')),
    sa.CheckConstraint('best_bid_minor IS NULL OR best_bid_minor > 0', name=op.f('ck_ping_best_bid_positive')),
    sa.ForeignKeyConstraint(['affiliate_id'], ['affiliate.id'], name=op.f('fk_ping_affiliate_id_affiliate')),
    sa.ForeignKeyConstraint(['lead_id'], ['lead.id'], name=op.f('fk_ping_lead_id_lead')),
    sa.ForeignKeyConstraint(['offer_id'], ['offer.id'], name=op.f('fk_ping_offer_id_offer')),
    sa.ForeignKeyConstraint(['sold_to_buyer_id'], ['ping_buyer.id'], name=op.f('fk_ping_sold_to_buyer_id_ping_buyer')),
    sa.ForeignKeyConstraint(['vertical_id'], ['vertical.id'], name=op.f('fk_ping_vertical_id_vertical')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ping')),
    sa.UniqueConstraint('token', name=op.f('uq_ping_token'))
    )
    op.create_index('ix_ping_affiliate_id_created_at', 'ping', ['affiliate_id', 'created_at'], unique=False)
    op.create_table('ping_bid',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ping_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=False),
    sa.Column('advertiser_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('bid_minor', sa.BigInteger(), nullable=True),
    sa.Column('response_ms', sa.Integer(), nullable=False),
    sa.Column('detail', sa.String(length=200), nullable=True),
    sa.Column('post_status', sa.String(length=10), nullable=True),
    sa.Column('post_ms', sa.Integer(), nullable=True),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(status = 'bid') = (bid_minor IS NOT NULL)", name=op.f('ck_ping_bid_bid_matches_status')),
    sa.CheckConstraint("post_status IS NULL OR post_status IN ('accepted', 'rejected', 'timeout', 'error', 'unsold')", name=op.f('ck_ping_bid_post_status_known')),
    sa.CheckConstraint("status IN ('bid', 'no_bid', 'timeout', 'error')", name=op.f('ck_ping_bid_status_known')),
    sa.CheckConstraint('bid_minor IS NULL OR bid_minor > 0', name=op.f('ck_ping_bid_bid_positive')),
    sa.ForeignKeyConstraint(['advertiser_id'], ['advertiser.id'], name=op.f('fk_ping_bid_advertiser_id_advertiser')),
    sa.ForeignKeyConstraint(['buyer_id'], ['ping_buyer.id'], name=op.f('fk_ping_bid_buyer_id_ping_buyer')),
    sa.ForeignKeyConstraint(['ping_id'], ['ping.id'], name=op.f('fk_ping_bid_ping_id_ping')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ping_bid')),
    sa.UniqueConstraint('ping_id', 'buyer_id', name=op.f('uq_ping_bid_ping_id_buyer_id'))
    )
    op.create_index('ix_ping_bid_advertiser_id_created_at', 'ping_bid', ['advertiser_id', 'created_at'], unique=False)
    op.create_index('ix_ping_bid_buyer_id_created_at', 'ping_bid', ['buyer_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_ping_bid_buyer_id_created_at', table_name='ping_bid')
    op.drop_index('ix_ping_bid_advertiser_id_created_at', table_name='ping_bid')
    op.drop_table('ping_bid')
    op.drop_index('ix_ping_affiliate_id_created_at', table_name='ping')
    op.drop_table('ping')
    op.drop_index('ix_ping_buyer_vertical_id_status', table_name='ping_buyer')
    op.drop_index(op.f('ix_ping_buyer_advertiser_id'), table_name='ping_buyer')
    op.drop_table('ping_buyer')
