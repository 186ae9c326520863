"""Consent certificates: the consent a lead's person gave, sealed at intake so a buyer can verify it.

At intake a lead that carries consent gets a `consent_certificate` row: a random certificate id,
the consent text, time, IP and page URL, and the SHA-256 of their canonical serialization:

    JSON of {"certificate_id", "given_at", "ip", "lead_id", "page_url", "text"} with keys sorted,
    no whitespace (separators "," and ":"), non-ASCII kept as UTF-8, `given_at` in UTC as
    "YYYY-MM-DDTHH:MM:SS.ffffffZ", missing IP or page URL as null.

Anyone holding the record can recompute the hash (`canonical_bytes` + sha256) and compare.
The IP is personal data: it is sealed with the lead's contact data (`lead.consent["ip"]`), not kept
in the certificate row. Once the lead's personal data is erased the certificate shows no IP and no
page URL (`erased`), and only the stored hash remains as proof of what was sealed.
`GET /api/v1/consents/{certificate_id}` shows it to an advertiser who bought the lead, and admins.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadmarket import bulk
from leadmarket.errors import NotFound
from leadmarket.identity import Principal, Role
from marketplace.models import ConsentCertificate, Lead
from marketplace.sale_models import Sale

HASH_ALGORITHM = "sha256"


class ConsentCertificateView(msgspec.Struct, kw_only=True):
    certificate_id: str
    lead_id: int
    text: str
    given_at: datetime
    ip: str | None
    page_url: str | None
    hash_algorithm: str
    hash: str
    canonical: str  # the exact string hashed, so a verifier need not rebuild it
    erased: bool = False  # the lead's personal data was erased: IP and page URL are gone, the hash stays


def canonical_bytes(*, certificate_id: str, lead_id: int, text: str, given_at: datetime, ip: str | None,
                    page_url: str | None) -> bytes:
    record = {"certificate_id": certificate_id, "lead_id": lead_id, "text": text,
              "given_at": given_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "ip": ip,
              "page_url": page_url}
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_certificates(session: Session, leads: Iterable[Lead], now: datetime) -> None:
    """Seal the consent each new lead carries, in the caller's transaction (after the leads got
    their ids): one INSERT for all of them."""
    rows = []
    for lead in leads:
        consent = lead.consent
        if not consent or "text" not in consent or "given_at" not in consent:
            continue
        given_at = datetime.fromisoformat(consent["given_at"]).astimezone(UTC)
        fields: dict[str, Any] = {"certificate_id": str(uuid.uuid4()), "lead_id": lead.id, "text": consent["text"],
                                  "given_at": given_at, "ip": consent.get("ip"), "page_url": consent.get("page_url")}
        digest = hashlib.sha256(canonical_bytes(**fields)).hexdigest()
        del fields["ip"]  # sealed with the lead
        rows.append({**fields, "sha256": digest, "created_at": now})
    bulk.insert_rows(session, ConsentCertificate.__table__, rows)


def certificates_for(session: Session, lead_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """lead id -> (certificate id, hash) for those of the leads that carry consent."""
    ids = sorted(set(lead_ids))
    if not ids:
        return {}
    rows = session.execute(select(ConsentCertificate.lead_id, ConsentCertificate.certificate_id,
                                  ConsentCertificate.sha256).where(ConsentCertificate.lead_id.in_(ids)))
    return {row.lead_id: (row.certificate_id, row.sha256) for row in rows}


def get_certificate(session: Session, principal: Principal, certificate_id: str) -> ConsentCertificateView:
    """The certificate, for an admin or an advertiser with a sale of its lead; otherwise NotFound."""
    query = (select(ConsentCertificate, Lead).join(Lead, Lead.id == ConsentCertificate.lead_id)
             .where(ConsentCertificate.certificate_id == certificate_id))
    if principal.role != Role.ADMIN:
        if principal.advertiser_id is None:
            raise NotFound(f"no consent certificate {certificate_id}")
        bought = select(Sale.id).where(Sale.lead_id == ConsentCertificate.lead_id,
                                       Sale.advertiser_id == principal.advertiser_id)
        query = query.where(bought.exists())
    row = session.execute(query).one_or_none()
    if row is None:
        raise NotFound(f"no consent certificate {certificate_id}")
    certificate, lead = row
    fields = {"certificate_id": certificate.certificate_id, "lead_id": certificate.lead_id,
              "text": certificate.text, "given_at": certificate.given_at, "ip": (lead.consent or {}).get("ip"),
              "page_url": certificate.page_url}
    return ConsentCertificateView(**fields, hash_algorithm=HASH_ALGORITHM, hash=certificate.sha256,
                                  canonical=canonical_bytes(**fields).decode(), erased=lead.erased_at is not None)
