"""Privacy requests: erase one lead's personal data, keeping the lead, its sales and the money.

`erase_lead` destroys what identifies the person and keeps what the books need:

* gone: the sealed contact data (names, e-mail, phone, profile link, postal code, address, date
  of birth; the IP, browser and recording URL of meta and consent), the plain postal prefix, the
  keyed hashes that could confirm a guess (dedupe claims, person keys), the vertical's free-text
  attributes (`string` and `date` fields, and any attribute the vertical does not define), the
  consent's page URL, and a call lead's sealed caller number and recording URL;
* kept: the lead row (status, prices, affiliate, offer, sub ids, country, region, city, the
  structured attributes), its sales, deliveries, returns, ledger entries, payouts, the consent
  text, time and SHA-256, and the audit trail, which gains one `lead.erase` row.

Buyers then read `personal_data: "erased"` on the purchase and in delivered documents. A second
request for an erased lead changes nothing and answers as the first did (`already_erased`).

`rotate_data_keys` re-seals every sealed value not yet under the current data key
(`leadmarket keys rotate-data`): batch by batch, each its own transaction, so it can be stopped and
run again; rows already current are skipped by the query itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import LargeBinary, delete, func, literal, select, update
from sqlalchemy.orm import Session

from affiliates.call_models import CALL_CONTACT_PURPOSE, Call
from leadmarket import audit, crypto
from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.errors import InvalidInput, NotFound, PermissionDenied
from leadmarket.identity import Principal, Role
from marketplace.models import LEAD_CONTACT_PURPOSE, ConsentCertificate, DedupeClaim, Lead, PersonKey, Vertical
from marketplace.sale_models import Sale

MAX_REASON = 500
STRUCTURED_TYPES = frozenset({"integer", "number", "boolean", "choice"})  # kept: they describe, not identify
ERASE_ACTION = "lead.erase"
ROTATION_BATCH = 500
# Every sealed column: (table's model, column, associated data).
SEALED_COLUMNS: tuple[tuple[Any, Any, bytes], ...] = ((Lead, Lead.contact_sealed, LEAD_CONTACT_PURPOSE),
                                                      (Call, Call.contact_sealed, CALL_CONTACT_PURPOSE))


class ErasureRequest(msgspec.Struct, kw_only=True):
    reason: str | None = None  # why (e.g. "GDPR art. 17 request #123"); no contact data here


class LeadErasure(msgspec.Struct, kw_only=True):
    lead_id: int
    status: str  # the lead's status, unchanged by the erasure
    personal_data: str  # always "erased"
    erased_at: datetime
    already_erased: bool  # true when an earlier request erased it; nothing changed now
    sales_kept: int


def erase_lead(session: Session, principal: Principal, lead_id: int, request: ErasureRequest) -> LeadErasure:
    """Erase a lead's personal data for a privacy request (admins only); safe to repeat."""
    if principal.role != Role.ADMIN:
        raise PermissionDenied("erasing personal data needs the admin role")
    reason = (request.reason or "").strip()
    if not reason or len(reason) > MAX_REASON or "\x00" in reason:
        raise InvalidInput.one("reason", f"is required: 1 to {MAX_REASON} characters saying why")
    with transaction(session):
        # The row lock queues an erasure behind a sale or delivery of the same lead in flight.
        lead = session.execute(select(Lead).where(Lead.id == lead_id).with_for_update()).scalar_one_or_none()
        if lead is None:
            raise NotFound(f"no lead {lead_id}")
        sales = session.execute(select(func.count()).select_from(Sale).where(Sale.lead_id == lead_id)).scalar_one()
        if lead.erased_at is not None:
            return _answer(lead, sales, already=True)
        fields = session.execute(select(Vertical.fields).where(Vertical.id == lead.vertical_id)).scalar_one()
        now = utcnow()
        lead.forget_personal_data()
        lead.erased_at = now
        lead.attributes = structured_attributes(lead.attributes or {}, fields)
        if lead.consent_plain is not None:
            lead.consent_plain = {k: v for k, v in lead.consent_plain.items() if k != "page_url"}
        session.execute(delete(DedupeClaim).where(DedupeClaim.lead_id == lead_id))
        session.execute(delete(PersonKey).where(PersonKey.lead_id == lead_id))
        session.execute(update(ConsentCertificate).where(ConsentCertificate.lead_id == lead_id).values(page_url=None))
        session.execute(update(Call).where(Call.lead_id == lead_id).values(contact_sealed=None))
        audit.record(session, principal, ERASE_ACTION, "lead", lead_id,
                     {"reason": reason, "status": lead.status, "sales_kept": sales}, at=now)
        session.flush()
        answer = _answer(lead, sales, already=False)
    return answer


def structured_attributes(attributes: dict[str, Any], fields: list[dict[str, Any]]) -> dict[str, Any]:
    """The attributes a vertical defines as numbers, yes/no or choices; free text and dates go."""
    kinds = {spec.get("name"): spec.get("type") for spec in fields}
    return {name: value for name, value in attributes.items() if kinds.get(name) in STRUCTURED_TYPES}


def _answer(lead: Lead, sales: int, *, already: bool) -> LeadErasure:
    assert lead.erased_at is not None
    return LeadErasure(lead_id=lead.id, status=lead.status, personal_data="erased", erased_at=lead.erased_at,
                       already_erased=already, sales_kept=sales)


@dataclass
class Rotation:
    key_id: str
    resealed: dict[str, int] = field(default_factory=dict)  # table -> rows re-sealed under key_id


def rotate_data_keys(session: Session, *, batch: int = ROTATION_BATCH) -> Rotation:
    """Re-seal every sealed value under the current data key; returns how many per table."""
    ring = crypto.keyring()
    kid = ring.current_id.encode()
    header = literal(crypto.VERSION + bytes([len(kid)]) + kid, LargeBinary)
    rotation = Rotation(key_id=ring.current_id)
    for model, column, purpose in SEALED_COLUMNS:
        done, last = 0, 0
        stale = [column.is_not(None), func.substr(column, 1, 2 + len(kid)) != header]
        while True:
            with transaction(session):
                rows = session.execute(select(model.id, column).where(model.id > last, *stale)
                                       .order_by(model.id).limit(batch)).all()
                for row_id, sealed in rows:
                    fresh = crypto.seal(crypto.open_sealed(sealed, purpose, ring=ring), purpose, ring=ring)
                    # compare-and-set: a row erased or re-sealed meanwhile is left as it is now
                    done += session.execute(update(model).where(model.id == row_id, column == sealed)
                                            .values({column.key: fresh})
                                            .execution_options(synchronize_session=False)).rowcount
            if len(rows) < batch:
                break
            last = rows[-1][0]
        rotation.resealed[model.__tablename__] = done
    return rotation


__all__ = ["ErasureRequest", "LeadErasure", "Rotation", "erase_lead", "rotate_data_keys", "structured_attributes"]
