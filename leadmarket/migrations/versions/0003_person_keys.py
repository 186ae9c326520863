"""person keys: blocking keys of each lead's person for fuzzy dedupe

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 14:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('person_key',
    sa.Column('vertical_id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('lead_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['lead.id'], name=op.f('fk_person_key_lead_id_lead')),
    sa.ForeignKeyConstraint(['vertical_id'], ['vertical.id'], name=op.f('fk_person_key_vertical_id_vertical')),
    sa.PrimaryKeyConstraint('vertical_id', 'key_hash', 'lead_id', name=op.f('pk_person_key'))
    )
    op.create_index(op.f('ix_person_key_lead_id'), 'person_key', ['lead_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_person_key_lead_id'), table_name='person_key')
    op.drop_table('person_key')
