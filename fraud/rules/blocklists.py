"""Blocklists: does the lead's IP (or a network holding it), e-mail domain (or a parent of it),
phone or sub1 sit on one? One query of exact matches on the unique index per batch of leads,
whatever the list's size; a match weighs 100, so a blocklisted lead is always rejected.

An address is looked up as its networks of the prefix lengths IP entries have (typically a few:
/32, /24, /64, /128; see fraud.blocklists.prefix_lengths).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session

from fraud.blocklists import containing_networks, parent_domains, prefix_lengths
from fraud.models import BlocklistEntry
from fraud.rules import Signal
from marketplace.models import Lead

SIGNALS = {kind: Signal(f"blocklisted_{kind}", 100) for kind in ("ip", "email_domain", "phone", "sub_id")}

_entry = BlocklistEntry
# Built once, so each batch only binds its values (the statement's compiled form is cached).
MATCHES = select(_entry.kind, _entry.value, _entry.affiliate_id).where(or_(
    and_(_entry.kind == "phone", _entry.affiliate_id.is_(None), _entry.value.in_(bindparam("phones", expanding=True))),
    and_(_entry.kind == "email_domain", _entry.affiliate_id.is_(None),
         _entry.value.in_(bindparam("domains", expanding=True))),
    and_(_entry.kind == "ip", _entry.affiliate_id.is_(None), _entry.value.in_(bindparam("networks", expanding=True))),
    and_(_entry.kind == "sub_id", _entry.affiliate_id.in_(bindparam("affiliate_ids", expanding=True)),
         _entry.value.in_(bindparam("sub1s", expanding=True))),
))


def check_many(session: Session, leads: list[Lead]) -> list[list[Signal]]:
    """The blocklist signals of each lead, from one query for all of them."""
    lengths = prefix_lengths(session) if any((lead.meta or {}).get("ip") for lead in leads) else frozenset()
    wanted: list[set[tuple[str, str, int | None]]] = []  # per lead: (kind, value, affiliate or None)
    for lead in leads:
        ip = (lead.meta or {}).get("ip")
        keys = {("phone", lead.phone, None)} if lead.phone else set()
        if lead.email:
            keys |= {("email_domain", domain, None) for domain in parent_domains(lead.email.rpartition("@")[2])}
        if ip and lengths:
            keys |= {("ip", network, None) for network in containing_networks(ip, lengths)}
        if lead.sub1:
            keys.add(("sub_id", lead.sub1, lead.affiliate_id))
        wanted.append(keys)
    values: dict[str, set[Any]] = {"phones": set(), "domains": set(), "networks": set(), "affiliate_ids": set(),
                                   "sub1s": set()}
    for keys in wanted:
        for kind, value, affiliate_id in keys:
            values[_PARAM[kind]].add(value)
            if affiliate_id is not None:
                values["affiliate_ids"].add(affiliate_id)
    if not any(values.values()):
        return [[] for _ in leads]
    params = {name: sorted(found) for name, found in values.items()}
    listed = {tuple(row) for row in session.connection().execute(MATCHES, params)}  # Core: no ORM work
    return [sorted({SIGNALS[kind] for kind, value, affiliate_id in keys if (kind, value, affiliate_id) in listed},
                   key=lambda s: s.code) for keys in wanted]


_PARAM = {"phone": "phones", "email_domain": "domains", "ip": "networks", "sub_id": "sub1s"}
