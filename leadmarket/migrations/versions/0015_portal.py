"""portal: users, sessions, background jobs; audit actor user

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-24 16:23:16.806131
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadmarket.db
from sqlalchemy.dialects import postgresql

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('portal_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('advertiser_id', sa.Integer(), nullable=True),
    sa.Column('affiliate_id', sa.Integer(), nullable=True),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('disabled_at', leadmarket.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(role = 'advertiser') = (advertiser_id IS NOT NULL) AND (role = 'affiliate') = (affiliate_id IS NOT NULL)", name=op.f('ck_portal_user_owner_matches_role')),
    sa.CheckConstraint("role IN ('admin', 'finance', 'advertiser', 'affiliate')", name=op.f('ck_portal_user_role_known')),
    sa.ForeignKeyConstraint(['advertiser_id'], ['advertiser.id'], name=op.f('fk_portal_user_advertiser_id_advertiser')),
    sa.ForeignKeyConstraint(['affiliate_id'], ['affiliate.id'], name=op.f('fk_portal_user_affiliate_id_affiliate')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_user')),
    sa.UniqueConstraint('email', name=op.f('uq_portal_user_email'))
    )
    op.create_index(op.f('ix_portal_user_advertiser_id'), 'portal_user', ['advertiser_id'], unique=False)
    op.create_index(op.f('ix_portal_user_affiliate_id'), 'portal_user', ['affiliate_id'], unique=False)
    op.create_table('background_job',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('owner_scope', sa.String(length=64), nullable=False),
    sa.Column('owner_user_id', sa.Integer(), nullable=True),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('result_name', sa.String(length=200), nullable=True),
    sa.Column('result_type', sa.String(length=100), nullable=True),
    sa.Column('result_body', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', leadmarket.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['owner_user_id'], ['portal_user.id'], name=op.f('fk_background_job_owner_user_id_portal_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_background_job'))
    )
    op.create_index(op.f('ix_background_job_owner_scope'), 'background_job', ['owner_scope'], unique=False)
    op.create_table('portal_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', leadmarket.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', leadmarket.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['portal_user.id'], name=op.f('fk_portal_session_user_id_portal_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_session')),
    sa.UniqueConstraint('token_digest', name=op.f('uq_portal_session_token_digest'))
    )
    op.create_index(op.f('ix_portal_session_user_id'), 'portal_session', ['user_id'], unique=False)
    op.add_column('audit_event', sa.Column('actor_user_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('audit_event', 'actor_user_id')
    op.drop_index(op.f('ix_portal_session_user_id'), table_name='portal_session')
    op.drop_table('portal_session')
    op.drop_index(op.f('ix_background_job_owner_scope'), table_name='background_job')
    op.drop_table('background_job')
    op.drop_index(op.f('ix_portal_user_affiliate_id'), table_name='portal_user')
    op.drop_index(op.f('ix_portal_user_advertiser_id'), table_name='portal_user')
    op.drop_table('portal_user')
