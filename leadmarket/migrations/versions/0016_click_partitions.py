"""click: partitioned by month of clicked_at (PostgreSQL); key (click_id, clicked_at), no surrogate id

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-24 16:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("click_id, link_id, affiliate_id, offer_id, sub1, sub2, sub3, sub4, sub5, ip, user_agent, referrer, "
           "country, cost_minor, currency, is_unique, clicked_at")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        with op.batch_alter_table("click") as batch:
            batch.drop_constraint("uq_click_click_id", type_="unique")
            batch.drop_constraint("pk_click", type_="primary")
            batch.drop_column("id")
            batch.create_primary_key("pk_click", ["click_id", "clicked_at"])
        return
    from leadmarket.partitions import ensure_partitions

    op.execute("ALTER TABLE click RENAME TO click_unpartitioned")
    for old in ("pk_click", "uq_click_click_id", "ck_click_cost_not_negative"):
        op.execute(f"ALTER TABLE click_unpartitioned RENAME CONSTRAINT {old} TO {old}_old")
    op.execute("ALTER INDEX ix_click_affiliate_id_offer_id_clicked_at RENAME TO ix_click_aoc_old")
    op.execute("ALTER INDEX ix_click_clicked_at RENAME TO ix_click_clicked_at_old")
    op.execute("""
        CREATE TABLE click (
            click_id varchar(40) NOT NULL,
            link_id integer NOT NULL,
            affiliate_id integer NOT NULL,
            offer_id integer NOT NULL,
            sub1 varchar(255), sub2 varchar(255), sub3 varchar(255), sub4 varchar(255), sub5 varchar(255),
            ip varchar(45),
            user_agent varchar(500),
            referrer varchar(1000),
            country varchar(2),
            cost_minor bigint,
            currency varchar(3) NOT NULL,
            is_unique boolean NOT NULL,
            clicked_at timestamp with time zone NOT NULL,
            CONSTRAINT pk_click PRIMARY KEY (click_id, clicked_at),
            CONSTRAINT ck_click_cost_not_negative CHECK (cost_minor IS NULL OR cost_minor >= 0)
        ) PARTITION BY RANGE (clicked_at)""")
    op.execute("CREATE INDEX ix_click_affiliate_id_offer_id_clicked_at ON click (affiliate_id, offer_id, clicked_at)")
    op.execute("CREATE INDEX ix_click_clicked_at ON click (clicked_at)")
    op.execute("CREATE TABLE click_default PARTITION OF click DEFAULT")
    op.execute(f"INSERT INTO click ({COLUMNS}) SELECT {COLUMNS} FROM click_unpartitioned")
    op.execute("DROP TABLE click_unpartitioned")
    # Months that already have clicks, and the next ones: their rows move out of the default partition.
    months = bind.execute(sa.text("SELECT DISTINCT date_trunc('month', clicked_at AT TIME ZONE 'UTC') FROM click")).scalars()
    from datetime import UTC

    for month in months:
        ensure_partitions(bind, now=month.replace(tzinfo=UTC), months_ahead=0)
    ensure_partitions(bind)


def downgrade() -> None:
    raise NotImplementedError("partitioned clicks are not un-partitioned; restore from a backup")
