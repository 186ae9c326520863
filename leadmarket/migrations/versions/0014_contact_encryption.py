"""contact encryption: leads' and calls' personal data sealed (AES-GCM), plaintext columns dropped

The lead's contact fields, and the IP, browser and recording URL in its meta and consent, move into
one sealed value per lead (`lead.contact_sealed`, see marketplace/models.py and leadmarket/crypto.py),
in batches; the store keeps a plain two-character `postal_prefix`. A call's number and recording URL
move into `call.contact_sealed`. The certificate's IP is read from the lead's sealed consent. Rows
are sealed under the current data key of the settings the migration runs with (LEADMARKET_DATA_KEYS,
else the key derived from LEADMARKET_SECRET_KEY): run it with the production settings.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24 16:40:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from alembic import op

import leadmarket.db
from leadmarket import crypto

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
LEAD_PURPOSE = b"lead.contact"  # marketplace.models.LEAD_CONTACT_PURPOSE, as of this revision
CALL_PURPOSE = b"call.contact"  # affiliates.call_models.CALL_CONTACT_PURPOSE
CONTACT = ("first_name", "last_name", "email", "phone", "profile_url", "postal_code", "address", "date_of_birth")
SEALED_META = ("ip", "user_agent", "recording_url")
SEALED_CONSENT = ("ip",)
POSTAL_PREFIX = 2

lead = sa.table('lead', sa.column('id', sa.BigInteger()), *(sa.column(c) for c in CONTACT[:-1]),
                sa.column('date_of_birth', sa.Date()), sa.column('meta', leadmarket.db.JSONType),
                sa.column('consent', leadmarket.db.JSONType), sa.column('contact_sealed', sa.LargeBinary()),
                sa.column('postal_prefix'), sa.column('erased_at', leadmarket.db.UTCDateTime(timezone=True)))
call = sa.table('call', sa.column('id', sa.BigInteger()), sa.column('caller_number'), sa.column('recording_url'),
                sa.column('contact_sealed', sa.LargeBinary()))


def _batches(conn: sa.Connection, table: sa.TableClause, columns: list[Any], where: Any) -> Any:
    """Rows in id order, BATCH at a time (keyset: each batch starts after the last id seen)."""
    last = 0
    while True:
        rows = conn.execute(sa.select(table.c.id, *columns).where(where, table.c.id > last)
                            .order_by(table.c.id).limit(BATCH)).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def upgrade() -> None:
    with op.batch_alter_table('lead') as batch:
        batch.add_column(sa.Column('contact_sealed', sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column('erased_at', leadmarket.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('postal_prefix', sa.String(length=POSTAL_PREFIX), nullable=True))
    with op.batch_alter_table('call') as batch:
        batch.add_column(sa.Column('contact_sealed', sa.LargeBinary(), nullable=True))

    conn = op.get_bind()
    ring = crypto.keyring()
    columns = [lead.c[name] for name in CONTACT] + [lead.c.meta, lead.c.consent]
    for rows in _batches(conn, lead, columns, lead.c.contact_sealed.is_(None)):
        updates = []
        for row in rows:
            personal: dict[str, Any] = {name: getattr(row, name) for name in CONTACT if getattr(row, name) is not None}
            if isinstance(personal.get("date_of_birth"), date):
                personal["date_of_birth"] = personal["date_of_birth"].isoformat()
            meta, consent = dict(row.meta or {}), None if row.consent is None else dict(row.consent)
            if sealed_meta := {k: meta.pop(k) for k in SEALED_META if meta.get(k) is not None}:
                personal["meta"] = sealed_meta
            if consent and (sealed_consent := {k: consent.pop(k) for k in SEALED_CONSENT if consent.get(k) is not None}):
                personal["consent"] = sealed_consent
            updates.append({"b_id": row.id, "b_sealed": crypto.seal_json(personal, LEAD_PURPOSE, ring=ring),
                            "b_prefix": (row.postal_code or "")[:POSTAL_PREFIX] or None, "b_meta": meta,
                            "b_consent": consent})
        conn.execute(lead.update().where(lead.c.id == sa.bindparam("b_id")).values(
            contact_sealed=sa.bindparam("b_sealed"), postal_prefix=sa.bindparam("b_prefix"),
            meta=sa.bindparam("b_meta", type_=leadmarket.db.JSONType),
            consent=sa.bindparam("b_consent", type_=leadmarket.db.JSONType)), updates)
    for rows in _batches(conn, call, [call.c.caller_number, call.c.recording_url], call.c.contact_sealed.is_(None)):
        conn.execute(call.update().where(call.c.id == sa.bindparam("b_id")).values(
            contact_sealed=sa.bindparam("b_sealed")),
            [{"b_id": row.id, "b_sealed": crypto.seal_json({"caller_number": row.caller_number,
                                                           "recording_url": row.recording_url}, CALL_PURPOSE, ring=ring)}
             for row in rows])

    with op.batch_alter_table('lead') as batch:
        batch.drop_constraint(op.f('ck_lead_reachable'), type_='check')
        for name in CONTACT:
            batch.drop_column(name)
        batch.create_check_constraint(op.f('ck_lead_contact_kept_or_erased'),
                                      'contact_sealed IS NOT NULL OR erased_at IS NOT NULL')
    with op.batch_alter_table('call') as batch:
        batch.drop_column('caller_number')
        batch.drop_column('recording_url')
    with op.batch_alter_table('consent_certificate') as batch:
        batch.drop_column('ip')


def downgrade() -> None:
    """Open every sealed value back into plaintext columns (needs the keys that sealed them). An
    erased lead comes back with empty names and no way to reach it: its data is gone for good."""
    with op.batch_alter_table('lead') as batch:
        batch.add_column(sa.Column('first_name', sa.String(length=100), nullable=False, server_default=''))
        batch.add_column(sa.Column('last_name', sa.String(length=100), nullable=False, server_default=''))
        batch.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        batch.add_column(sa.Column('phone', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('profile_url', sa.String(length=500), nullable=True))
        batch.add_column(sa.Column('postal_code', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('address', sa.String(length=300), nullable=True))
        batch.add_column(sa.Column('date_of_birth', sa.Date(), nullable=True))
    with op.batch_alter_table('call') as batch:
        batch.add_column(sa.Column('caller_number', sa.String(length=20), nullable=False, server_default=''))
        batch.add_column(sa.Column('recording_url', sa.String(length=2000), nullable=True))
    with op.batch_alter_table('consent_certificate') as batch:
        batch.add_column(sa.Column('ip', sa.String(length=45), nullable=True))

    conn = op.get_bind()
    ring = crypto.keyring()
    certificate = sa.table('consent_certificate', sa.column('lead_id', sa.BigInteger()), sa.column('ip'))
    for rows in _batches(conn, lead, [lead.c.contact_sealed, lead.c.meta, lead.c.consent],
                         lead.c.contact_sealed.is_not(None)):
        for row in rows:
            personal = crypto.open_json(row.contact_sealed, LEAD_PURPOSE, ring=ring)
            dob = personal.get("date_of_birth")
            values: dict[str, Any] = {name: personal.get(name) for name in CONTACT[:-1]}
            values.update(first_name=values["first_name"] or "", last_name=values["last_name"] or "",
                          date_of_birth=date.fromisoformat(dob) if dob else None,
                          meta={**(row.meta or {}), **personal.get("meta", {})},
                          consent=None if row.consent is None else {**row.consent, **personal.get("consent", {})})
            conn.execute(lead.update().where(lead.c.id == row.id).values(**values))
            if ip := personal.get("consent", {}).get("ip"):
                conn.execute(certificate.update().where(certificate.c.lead_id == row.id).values(ip=ip))
    for rows in _batches(conn, call, [call.c.contact_sealed], call.c.contact_sealed.is_not(None)):
        for row in rows:
            conn.execute(call.update().where(call.c.id == row.id).values(
                **crypto.open_json(row.contact_sealed, CALL_PURPOSE, ring=ring)))

    with op.batch_alter_table('lead') as batch:
        batch.drop_constraint(op.f('ck_lead_contact_kept_or_erased'), type_='check')
        batch.drop_column('postal_prefix')
        batch.drop_column('erased_at')
        batch.drop_column('contact_sealed')
        batch.create_check_constraint(op.f('ck_lead_reachable'),
                                      'email IS NOT NULL OR phone IS NOT NULL OR profile_url IS NOT NULL')
    with op.batch_alter_table('call') as batch:
        batch.drop_column('contact_sealed')
