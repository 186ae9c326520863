"""Blocklists: IP networks, e-mail domains, phones and affiliate sub-ids that admins have blocked.

Values are normalized on the way in (a network in CIDR form, a lower-case domain, an E.164
phone), so a lead matches however the admin wrote them. Every change is audited.
"""

from __future__ import annotations

import ipaddress
import re
import threading
import time
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from affiliates.models import Affiliate
from fraud.models import BLOCKLIST_KINDS, BlocklistEntry
from leadmarket.paging import Page, PageRequest, paginate
from fraud.schemas import BlocklistCreate, BlocklistEntryView
from leadmarket import audit
from leadmarket.clock import utcnow
from leadmarket.db import transaction, violated_constraint
from leadmarket.errors import Conflict, FieldError, InvalidInput, NotFound
from leadmarket.identity import Principal
from marketplace import normalize

PREFIX_CACHE_SECONDS = 10.0
_prefix_cache: tuple[float, frozenset[int]] = (0.0, frozenset())
_prefix_lock = threading.Lock()
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


def containing_networks(ip: str, lengths: Iterable[int] | None = None) -> list[str]:
    """The networks of `lengths` (default: all) that contain `ip`, in the canonical form entries
    are stored in: `203.0.113.7/32`, `203.0.113.6/31`, ... (IPv4-mapped IPv6 is read as IPv4)."""
    address = ipaddress.ip_address(ip)
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    bits = address.max_prefixlen
    number = int(address)
    network = ipaddress.IPv4Network if address.version == 4 else ipaddress.IPv6Network
    wanted = range(bits, -1, -1) if lengths is None else sorted((n for n in set(lengths) if n <= bits), reverse=True)
    return [str(network((number >> (bits - length) << (bits - length), length))) for length in wanted]


def prefix_lengths(session: Session) -> frozenset[int]:
    """The prefix lengths IP entries have, read at most every PREFIX_CACHE_SECONDS per process.

    A network of a length no entry had before therefore takes up to that long to match in other
    processes (the process that added it matches it at once); one of a known length matches at once.
    """
    global _prefix_cache
    fetched_at, lengths = _prefix_cache
    if time.monotonic() - fetched_at < PREFIX_CACHE_SECONDS:
        return lengths
    query = select(BlocklistEntry.prefix_length).where(BlocklistEntry.kind == "ip").distinct()
    lengths = frozenset(session.execute(query).scalars())
    with _prefix_lock:
        _prefix_cache = (time.monotonic(), lengths)
    return lengths


def forget_prefix_lengths() -> None:
    global _prefix_cache
    with _prefix_lock:
        _prefix_cache = (0.0, frozenset())


def parent_domains(domain: str) -> list[str]:
    """`mx.spam.example` -> itself and every parent that still has a dot."""
    labels = domain.lower().split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)] or [domain.lower()]


def _normalized(session: Session, data: BlocklistCreate) -> BlocklistEntry:
    errors: list[FieldError] = []
    value = (data.value or "").strip()
    entry = BlocklistEntry(kind=data.kind, value=value, note=(data.note or "").strip()[:500] or None)
    if data.kind not in BLOCKLIST_KINDS:
        errors.append(FieldError("kind", f"must be one of {', '.join(BLOCKLIST_KINDS)}"))
    elif data.kind == "ip":
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            errors.append(FieldError("value", "must be an IP address or a network in CIDR form, e.g. 203.0.113.0/24"))
        else:
            entry.value, entry.prefix_length = str(network), network.prefixlen
    elif data.kind == "email_domain":
        domain = value.lower().lstrip("@").rstrip(".")
        if not _DOMAIN.match(domain):
            errors.append(FieldError("value", "must be a domain name, e.g. mailinator.com"))
        entry.value = domain
    elif data.kind == "phone":
        if not value.startswith("+"):
            errors.append(FieldError("value", "must be a phone number in international form, e.g. +14155552671"))
        else:
            try:
                entry.value = normalize.phone(value, None)
            except ValueError as exc:
                errors.append(FieldError("value", str(exc)))
    elif data.kind == "sub_id":
        if not value or len(value) > 255:
            errors.append(FieldError("value", "must be 1 to 255 characters"))
    if data.kind == "sub_id":
        if data.affiliate_id is None:
            errors.append(FieldError("affiliate_id", "a sub-id is blocked for one affiliate: give its id"))
        elif not 0 < data.affiliate_id < 2**31 or session.get(Affiliate, data.affiliate_id) is None:  # 32-bit ids
            errors.append(FieldError("affiliate_id", "no such affiliate"))
        entry.affiliate_id = data.affiliate_id
    elif data.affiliate_id is not None:
        errors.append(FieldError("affiliate_id", "only a sub_id entry belongs to an affiliate"))
    if errors:
        raise InvalidInput(errors)
    return entry


def add_entry(session: Session, principal: Principal, data: BlocklistCreate) -> BlocklistEntry:
    entry = _normalized(session, data)
    entry.created_by, entry.created_at = audit.actor_label(principal), utcnow()
    try:
        with transaction(session):
            session.add(entry)
            session.flush()
            audit.record(session, principal, "blocklist.add", "blocklist_entry", entry.id,
                         {"kind": entry.kind, "affiliate_id": entry.affiliate_id, "note": entry.note},
                         at=entry.created_at)
    except IntegrityError as exc:
        if violated_constraint(exc) == "uq_blocklist_entry_kind_affiliate_id_value":
            raise Conflict(f"this {entry.kind} is already on the blocklist") from exc
        raise
    if entry.kind == "ip":
        forget_prefix_lengths()  # this process matches the new network at once
    return entry


def remove_entry(session: Session, principal: Principal, entry_id: int) -> None:
    with transaction(session):
        removed = session.execute(
            delete(BlocklistEntry).where(BlocklistEntry.id == entry_id)
            .returning(BlocklistEntry.kind, BlocklistEntry.affiliate_id)).one_or_none()
        if removed is None:
            raise NotFound(f"no blocklist entry {entry_id}")
        audit.record(session, principal, "blocklist.remove", "blocklist_entry", entry_id,
                     {"kind": removed.kind, "affiliate_id": removed.affiliate_id})


def list_entries(session: Session, kind: str | None = None) -> list[BlocklistEntry]:
    if kind is not None and kind not in BLOCKLIST_KINDS:
        raise InvalidInput.one("kind", f"must be one of {', '.join(BLOCKLIST_KINDS)}")
    query = select(BlocklistEntry).order_by(BlocklistEntry.id)
    if kind is not None:
        query = query.where(BlocklistEntry.kind == kind)
    return list(session.execute(query).scalars())


def entry_view(entry: BlocklistEntry) -> BlocklistEntryView:
    return BlocklistEntryView(id=entry.id, kind=entry.kind, value=entry.value, affiliate_id=entry.affiliate_id,
                              note=entry.note, created_by=entry.created_by, created_at=entry.created_at)


def entries_page(session: Session, request: PageRequest, kind: str | None = None) -> Page[BlocklistEntry]:
    if kind is not None and kind not in BLOCKLIST_KINDS:
        raise InvalidInput.one("kind", f"must be one of {', '.join(BLOCKLIST_KINDS)}")
    query = select(BlocklistEntry)
    if kind is not None:
        query = query.where(BlocklistEntry.kind == kind)
    return paginate(session, query, request, {"id": BlocklistEntry.id, "kind": BlocklistEntry.kind,
                                              "value": BlocklistEntry.value, "created_at": BlocklistEntry.created_at},
                    "id")
