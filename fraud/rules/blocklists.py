"""Blocklists: does the lead's IP (or a network holding it), e-mail domain (or a parent of it),
phone or sub1 sit on one? One query of exact matches on the unique index per lead, whatever the
list's size; a match weighs 100, so a blocklisted lead is always rejected.

An address is looked up as its networks of the prefix lengths IP entries have (typically a few:
/32, /24, /64, /128; see fraud.blocklists.prefix_lengths).
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session

from fraud.blocklists import containing_networks, parent_domains, prefix_lengths
from fraud.models import BlocklistEntry
from fraud.rules import Signal
from marketplace.models import Lead

SIGNALS = {kind: Signal(f"blocklisted_{kind}", 100) for kind in ("ip", "email_domain", "phone", "sub_id")}

_entry = BlocklistEntry
# Built once, so each lead only binds its values (the statement's compiled form is cached).
MATCHES = select(_entry.kind).where(or_(
    and_(_entry.kind == "phone", _entry.affiliate_id.is_(None), _entry.value == bindparam("phone")),
    and_(_entry.kind == "email_domain", _entry.affiliate_id.is_(None),
         _entry.value.in_(bindparam("domains", expanding=True))),
    and_(_entry.kind == "ip", _entry.affiliate_id.is_(None), _entry.value.in_(bindparam("networks", expanding=True))),
    and_(_entry.kind == "sub_id", _entry.affiliate_id == bindparam("affiliate_id"), _entry.value == bindparam("sub1")),
)).distinct()


def check(session: Session, lead: Lead) -> list[Signal]:
    ip = (lead.meta or {}).get("ip")
    lengths = prefix_lengths(session) if ip else frozenset()
    params = {
        "phone": lead.phone,
        "domains": parent_domains(lead.email.rpartition("@")[2]) if lead.email else [],
        "networks": containing_networks(ip, lengths) if lengths else [],
        "affiliate_id": lead.affiliate_id,
        "sub1": lead.sub1,
    }
    kinds = session.connection().execute(MATCHES, params).scalars()  # Core: no ORM work per lead
    return sorted((SIGNALS[kind] for kind in kinds), key=lambda s: s.code)
