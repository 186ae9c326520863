"""calls as leads: tracking numbers, calls, lead.source, offer.min_call_seconds

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 14:33:18.190211
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadmarket.db

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('tracking_number',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('affiliate_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('active', 'paused')", name=op.f('ck_tracking_number_status_known')),
    sa.ForeignKeyConstraint(['affiliate_id'], ['affiliate.id'], name=op.f('fk_tracking_number_affiliate_id_affiliate')),
    sa.ForeignKeyConstraint(['offer_id'], ['offer.id'], name=op.f('fk_tracking_number_offer_id_offer')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tracking_number')),
    sa.UniqueConstraint('number', name=op.f('uq_tracking_number_number'))
    )
    op.create_index('ix_tracking_number_affiliate_id_offer_id', 'tracking_number', ['affiliate_id', 'offer_id'], unique=False)
    op.create_index(op.f('ix_tracking_number_offer_id'), 'tracking_number', ['offer_id'], unique=False)
    op.create_table('call',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('provider_call_id', sa.String(length=100), nullable=False),
    sa.Column('tracking_number_id', sa.Integer(), nullable=False),
    sa.Column('affiliate_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('caller_number', sa.String(length=20), nullable=False),
    sa.Column('duration_seconds', sa.Integer(), nullable=False),
    sa.Column('min_call_seconds', sa.Integer(), nullable=False),
    sa.Column('recording_url', sa.String(length=2000), nullable=True),
    sa.Column('started_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.CheckConstraint("(status = 'lead') = (lead_id IS NOT NULL)", name=op.f('ck_call_lead_iff_status_lead')),
    sa.CheckConstraint("status IN ('pending', 'lead', 'too_short')", name=op.f('ck_call_status_known')),
    sa.CheckConstraint('duration_seconds >= 0', name=op.f('ck_call_duration_not_negative')),
    sa.ForeignKeyConstraint(['affiliate_id'], ['affiliate.id'], name=op.f('fk_call_affiliate_id_affiliate')),
    sa.ForeignKeyConstraint(['lead_id'], ['lead.id'], name=op.f('fk_call_lead_id_lead')),
    sa.ForeignKeyConstraint(['offer_id'], ['offer.id'], name=op.f('fk_call_offer_id_offer')),
    sa.ForeignKeyConstraint(['tracking_number_id'], ['tracking_number.id'], name=op.f('fk_call_tracking_number_id_tracking_number')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call')),
    sa.UniqueConstraint('lead_id', name=op.f('uq_call_lead_id')),
    sa.UniqueConstraint('provider_call_id', name=op.f('uq_call_provider_call_id'))
    )
    op.create_index('ix_call_affiliate_id_received_at', 'call', ['affiliate_id', 'received_at'], unique=False)
    op.create_index(op.f('ix_call_tracking_number_id'), 'call', ['tracking_number_id'], unique=False)
    # Batch mode: SQLite (the embedded default) adds a CHECK only by rebuilding the table.
    with op.batch_alter_table('lead') as batch:
        batch.add_column(sa.Column('source', sa.String(length=10), server_default='api', nullable=False))
        batch.create_check_constraint(op.f('ck_lead_source_known'), "source IN ('api', 'form', 'call')")
    with op.batch_alter_table('offer') as batch:
        batch.add_column(sa.Column('min_call_seconds', sa.Integer(), nullable=True))
        batch.create_check_constraint(op.f('ck_offer_min_call_seconds_range'), 'min_call_seconds BETWEEN 0 AND 3600')


def downgrade() -> None:
    with op.batch_alter_table('offer') as batch:
        batch.drop_constraint(op.f('ck_offer_min_call_seconds_range'), type_='check')
        batch.drop_column('min_call_seconds')
    with op.batch_alter_table('lead') as batch:
        batch.drop_constraint(op.f('ck_lead_source_known'), type_='check')
        batch.drop_column('source')
    op.drop_index(op.f('ix_call_tracking_number_id'), table_name='call')
    op.drop_index('ix_call_affiliate_id_received_at', table_name='call')
    op.drop_table('call')
    op.drop_index(op.f('ix_tracking_number_offer_id'), table_name='tracking_number')
    op.drop_index('ix_tracking_number_affiliate_id_offer_id', table_name='tracking_number')
    op.drop_table('tracking_number')
