"""api key rotation: expires_at (a rotated key's grace), replaced_by_id, family_id

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 16:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import leadmarket.db

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('api_key') as batch:
        batch.add_column(sa.Column('expires_at', leadmarket.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('replaced_by_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('family_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f('fk_api_key_replaced_by_id_api_key'), 'api_key', ['replaced_by_id'], ['id'])
        batch.create_foreign_key(op.f('fk_api_key_family_id_api_key'), 'api_key', ['family_id'], ['id'])
        batch.create_index(op.f('ix_api_key_family_id'), ['family_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('api_key') as batch:
        batch.drop_index(op.f('ix_api_key_family_id'))
        batch.drop_constraint(op.f('fk_api_key_family_id_api_key'), type_='foreignkey')
        batch.drop_constraint(op.f('fk_api_key_replaced_by_id_api_key'), type_='foreignkey')
        batch.drop_column('family_id')
        batch.drop_column('replaced_by_id')
        batch.drop_column('expires_at')
