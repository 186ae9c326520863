"""lead store: vertical shelf life and store pricing, consent certificates, lifecycle lead statuses

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 14:40:58.455841
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import leadmarket.db

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_LEAD_STATUSES = "status IN ('accepted', 'sold', 'review', 'rejected')"
NEW_LEAD_STATUSES = "status IN ('accepted', 'sold', 'review', 'rejected', 'expired', 'returned', 'converted')"


def upgrade() -> None:
    op.create_table('consent_certificate',
    sa.Column('certificate_id', sa.String(length=36), nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('text', sa.String(length=5000), nullable=False),
    sa.Column('given_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.Column('page_url', sa.String(length=2000), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['lead.id'], name=op.f('fk_consent_certificate_lead_id_lead')),
    sa.PrimaryKeyConstraint('certificate_id', name=op.f('pk_consent_certificate')),
    sa.UniqueConstraint('lead_id', name=op.f('uq_consent_certificate_lead_id'))
    )
    with op.batch_alter_table('vertical') as batch:
        batch.add_column(sa.Column('shelf_life_days', sa.Integer(), server_default='30', nullable=False))
        batch.add_column(sa.Column('store_pricing', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
        batch.create_check_constraint(op.f('ck_vertical_shelf_life_positive'), 'shelf_life_days >= 1')
    with op.batch_alter_table('lead') as batch:
        batch.drop_constraint(op.f('ck_lead_status_known'), type_='check')
        batch.create_check_constraint(op.f('ck_lead_status_known'), NEW_LEAD_STATUSES)


def downgrade() -> None:
    with op.batch_alter_table('lead') as batch:
        batch.drop_constraint(op.f('ck_lead_status_known'), type_='check')
        batch.create_check_constraint(op.f('ck_lead_status_known'), OLD_LEAD_STATUSES)
    with op.batch_alter_table('vertical') as batch:
        batch.drop_constraint(op.f('ck_vertical_shelf_life_positive'), type_='check')
        batch.drop_column('store_pricing')
        batch.drop_column('shelf_life_days')
    op.drop_table('consent_certificate')
