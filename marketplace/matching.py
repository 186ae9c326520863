"""Matching: which active orders of a vertical take a lead now, best price first.

Each process keeps a compiled `OrderBook` per vertical: the active orders sorted by price
(highest first, then oldest), each one bit of a Python int, and for every filter the set of
orders it lets through as a bitset — per country, region, postal prefix, temperature, fraud
score, field range and choice, and per time zone and hour of the week. Matching a lead ANDs a
dozen bitsets, so it costs about the same for 10,000 orders as for 100 (tests/bench/
order_matching.py). The book is reloaded when the vertical's `order_book_version` stamp moves;
every order change writes a new stamp in its own transaction.

The book only narrows the candidates. Caps, budgets, order status and prices are decided again
by the database when a sale is taken (marketplace/sales.py), so a stale book can cost a retry,
never an overrun.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from marketplace.models import Advertiser, Lead
from marketplace.order_models import Order, OrderBookVersion
from marketplace.orders import postal_key

TEMPERATURE_RANK = {"cold": 0, "warm": 1, "hot": 2}
MAX_SCORE = 100
SLOTS = 7 * 24


@dataclass(frozen=True, slots=True)
class OrderTerms:
    """A matched order as the book saw it: enough to choose between sales and to take one."""

    id: int
    advertiser_id: int
    price_minor: int
    exclusive: bool
    time_zone: str


@dataclass(slots=True)
class _RangeIndex:
    """Orders with a range on one numeric field, by sorted bounds with cumulative bitsets."""

    unfiltered: int
    no_min: int
    no_max: int
    mins: list[float]
    min_masks: list[int]   # min_masks[i]: orders whose min <= mins[i]
    maxes: list[float]
    max_masks: list[int]   # max_masks[i]: orders whose max >= maxes[i]

    def admits(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return self.unfiltered
        i = bisect_right(self.mins, value)
        low_ok = self.no_min | (self.min_masks[i - 1] if i else 0)
        j = bisect_left(self.maxes, value)
        high_ok = self.no_max | (self.max_masks[j] if j < len(self.maxes) else 0)
        return self.unfiltered | (low_ok & high_ok)


@dataclass(slots=True)
class _ChoiceIndex:
    unfiltered: int
    by_value: dict[Any, int]

    def admits(self, value: Any) -> int:
        if value is None:
            return self.unfiltered
        return self.unfiltered | self.by_value.get(value, 0)


@dataclass
class OrderBook:
    """The compiled active orders of one vertical at one version stamp."""

    vertical_id: int
    stamp: int | None
    orders: list[OrderTerms]
    all_orders: int = 0
    any_country: int = 0
    by_country: dict[str, int] = field(default_factory=dict)
    any_region: int = 0
    by_region: dict[str, int] = field(default_factory=dict)
    any_postal: int = 0
    by_prefix: dict[str, int] = field(default_factory=dict)
    prefix_lengths: tuple[int, ...] = ()
    temperature_ok: list[int] = field(default_factory=list)   # by lead temperature rank
    score_ok: list[int] = field(default_factory=list)         # by lead fraud score 0..100
    ranges: dict[str, _RangeIndex] = field(default_factory=dict)
    choices: dict[str, _ChoiceIndex] = field(default_factory=dict)
    always_open: int = 0
    # Schedules: weekdays x hours ones as a bitset per weekday and per hour of each time zone, any
    # other shape as a bitset per hour of the week (weekday * 24 + hour) of each time zone.
    open_by_day: dict[str, list[int]] = field(default_factory=dict)
    open_by_hour: dict[str, list[int]] = field(default_factory=dict)
    open_by_zone: dict[str, list[int]] = field(default_factory=dict)
    zones: dict[str, ZoneInfo] = field(default_factory=dict)
    _capped_until: dict[int, datetime] = field(default_factory=dict)
    _position: dict[int, int] = field(default_factory=dict)

    def match(self, lead: Lead, now: datetime) -> list[OrderTerms]:
        """The orders taking `lead` at `now`, highest price first (ties: oldest order first)."""
        mask = self.all_orders
        if not mask:
            return []
        mask &= self.any_country | self.by_country.get(lead.country, 0)
        region = (lead.region or "").casefold()
        mask &= self.any_region | (self.by_region.get(region, 0) if region else 0)
        postal = self.any_postal
        if lead.postal_code:
            code = postal_key(lead.postal_code)
            for length in self.prefix_lengths:
                if length > len(code):
                    break
                postal |= self.by_prefix.get(code[:length], 0)
        mask &= postal
        mask &= self.temperature_ok[TEMPERATURE_RANK.get(lead.temperature or "cold", 0)]
        mask &= self.score_ok[min(max(lead.fraud_score or 0, 0), MAX_SCORE)]
        if not mask:
            return []
        attributes = lead.attributes or {}
        for name, index in self.ranges.items():
            mask &= index.admits(attributes.get(name))
        for name, choice in self.choices.items():
            mask &= choice.admits(attributes.get(name))
        if not mask:
            return []
        open_now = self.always_open
        for zone_name, zone in self.zones.items():
            local = now.astimezone(zone)
            day, hour = local.weekday(), local.hour
            if (by_day := self.open_by_day.get(zone_name)) is not None:
                open_now |= by_day[day] & self.open_by_hour[zone_name][hour]
            if (slots := self.open_by_zone.get(zone_name)) is not None:
                open_now |= slots[day * 24 + hour]
        mask &= open_now
        if self._capped_until:
            mask &= ~self._capped_mask(now)
        return [self.orders[i] for i in _bits(mask)]

    def note_capped(self, order_id: int, until: datetime) -> None:
        """A hint from distribution: this order's cap or budget is spent until `until`. Only
        this process's book keeps it, and only until the book reloads; the database decides."""
        if order_id in self._position:
            self._capped_until[order_id] = until

    def _capped_mask(self, now: datetime) -> int:
        mask = 0
        for order_id, until in list(self._capped_until.items()):
            if until <= now:
                self._capped_until.pop(order_id, None)
            else:
                mask |= 1 << self._position[order_id]
        return mask


def _bits(mask: int) -> Iterable[int]:
    """Positions of the set bits, lowest first (a string scan: fast for 10,000-bit ints)."""
    digits = bin(mask)[:1:-1]
    i = digits.find("1")
    while i >= 0:
        yield i
        i = digits.find("1", i + 1)


def compile_book(vertical_id: int, stamp: int | None, rows: list[Any]) -> OrderBook:
    """Build the book from order rows (ORM objects or rows with the same column names).

    Positions are gathered in lists first and each bitset is made once from its list: OR-ing
    bits one by one into 10,000-bit ints would cost quadratic time.
    """
    rows = sorted(rows, key=lambda o: (-o.price_minor, o.id))
    size = len(rows)
    book = OrderBook(vertical_id=vertical_id, stamp=stamp, orders=[
        OrderTerms(id=o.id, advertiser_id=o.advertiser_id, price_minor=o.price_minor, exclusive=o.exclusive,
                   time_zone=o.time_zone) for o in rows])
    book._position = {o.id: i for i, o in enumerate(rows)}
    book.all_orders = (1 << size) - 1
    at: dict[tuple[Any, ...], list[int]] = defaultdict(list)  # (filter, key...) -> positions
    range_bounds: dict[str, list[tuple[int, Any, Any]]] = defaultdict(list)
    for i, order in enumerate(rows):
        for code in order.countries or (None,):
            at["country", code].append(i)
        for region in order.regions or (None,):
            at["region", region.casefold() if region is not None else None].append(i)
        for prefix in order.postal_prefixes or (None,):
            at["postal", prefix].append(i)
        at["temperature", TEMPERATURE_RANK[order.min_temperature or "cold"]].append(i)
        at["score", order.max_fraud_score].append(i)
        for name, bounds in order.ranges.items():
            range_bounds[name].append((i, bounds.get("min"), bounds.get("max")))
        for name, values in order.choices.items():
            at["choices", name, None].append(i)  # None: has a filter on this field
            for value in values:
                at["choice", name, value].append(i)
        if order.schedule_slots is None:
            at["always", None].append(i)
            continue
        slots = order.schedule_slots
        days, hours = {slot // 24 for slot in slots}, {slot % 24 for slot in slots}
        if len(days) * len(hours) == len(slots):  # the usual weekdays x hours: 31 keys at most, not 168
            for day in days:
                at["day", order.time_zone, day].append(i)
            for hour in hours:
                at["hour", order.time_zone, hour].append(i)
        else:
            for slot in slots:
                at["slot", order.time_zone, slot].append(i)
    bits = {key: _bitset(positions, size) for key, positions in at.items()}
    book.any_country = bits.pop(("country", None), 0)
    book.any_region = bits.pop(("region", None), 0)
    book.any_postal = bits.pop(("postal", None), 0)
    book.always_open = bits.pop(("always", None), 0)
    no_score_limit = bits.pop(("score", None), 0)
    running = 0
    for rank in range(3):  # a lead of this rank passes orders whose minimum is at or below it
        running |= bits.pop(("temperature", rank), 0)
        book.temperature_ok.append(running)
    book.score_ok = [0] * (MAX_SCORE + 1)
    running = 0
    for score in range(MAX_SCORE, -1, -1):  # a lead scored s passes limits >= s
        running |= bits.pop(("score", score), 0)
        book.score_ok[score] = running | no_score_limit
    prefix_lengths: set[int] = set()
    for key, mask in bits.items():
        kind = key[0]
        if kind == "country":
            book.by_country[key[1]] = mask
        elif kind == "region":
            book.by_region[key[1]] = mask
        elif kind == "postal":
            book.by_prefix[key[1]] = mask
            prefix_lengths.add(len(key[1]))
        elif kind == "choice":
            choice = book.choices.setdefault(key[1], _ChoiceIndex(unfiltered=0, by_value={}))
            choice.by_value[key[2]] = mask
        elif kind == "choices":
            book.choices.setdefault(key[1], _ChoiceIndex(unfiltered=0, by_value={})).unfiltered = (
                book.all_orders & ~mask)
        elif kind == "slot":
            book.open_by_zone.setdefault(key[1], [0] * SLOTS)[key[2]] = mask
        elif kind == "day":
            book.open_by_day.setdefault(key[1], [0] * 7)[key[2]] = mask
        elif kind == "hour":
            book.open_by_hour.setdefault(key[1], [0] * 24)[key[2]] = mask
    book.prefix_lengths = tuple(sorted(prefix_lengths))
    book.zones = {name: ZoneInfo(name) for name in {*book.open_by_zone, *book.open_by_day, *book.open_by_hour}}
    for name, entries in range_bounds.items():
        book.ranges[name] = _range_index(size, entries)
    return book


def _bitset(positions: list[int], size: int) -> int:
    """An int with the given bits set, made in one pass over a byte array."""
    buffer = bytearray((size + 7) // 8)
    for i in positions:
        buffer[i >> 3] |= 1 << (i & 7)
    return int.from_bytes(buffer, "little")


def _range_index(size: int, entries: list[tuple[int, Any, Any]]) -> _RangeIndex:
    filtered: list[int] = []
    no_min: list[int] = []
    no_max: list[int] = []
    by_min: dict[float, list[int]] = defaultdict(list)
    by_max: dict[float, list[int]] = defaultdict(list)
    for i, low, high in entries:
        filtered.append(i)
        (no_min if low is None else by_min[low]).append(i)
        (no_max if high is None else by_max[high]).append(i)
    mins = sorted(by_min)
    min_masks, running = [], 0
    for low in mins:
        running |= _bitset(by_min[low], size)
        min_masks.append(running)
    maxes = sorted(by_max)
    max_masks, running = [0] * len(maxes), 0
    for k in range(len(maxes) - 1, -1, -1):
        running |= _bitset(by_max[maxes[k]], size)
        max_masks[k] = running
    return _RangeIndex(unfiltered=((1 << size) - 1) & ~_bitset(filtered, size), no_min=_bitset(no_min, size),
                       no_max=_bitset(no_max, size), mins=mins, min_masks=min_masks, maxes=maxes,
                       max_masks=max_masks)


_JSON_COLUMNS = ("countries", "regions", "postal_prefixes", "ranges", "choices", "schedule_slots")
# JSON columns come as text and are decoded by msgspec: the driver's json.loads per value would
# cost more than compiling the whole book.
BOOK_COLUMNS = (Order.id, Order.advertiser_id, Order.price_minor, Order.exclusive, Order.time_zone,
                Order.min_temperature, Order.max_fraud_score,
                *(cast(getattr(Order, name), Text).label(name) for name in _JSON_COLUMNS))
_decode = msgspec.json.Decoder()


@dataclass(slots=True)
class OrderRow:
    """An order as the matcher reads it (also built by hand for a what-if count: order_reach)."""

    id: int
    advertiser_id: int
    price_minor: int
    exclusive: bool
    time_zone: str
    min_temperature: str | None
    max_fraud_score: int | None
    countries: list[str]
    regions: list[str]
    postal_prefixes: list[str]
    ranges: dict[str, Any]
    choices: dict[str, Any]
    schedule_slots: list[int] | None


def _order_row(row: Any) -> OrderRow:
    values = list(row)
    decoded = [None if raw is None else _decode.decode(raw) for raw in values[7:]]
    return OrderRow(*values[:7], *decoded)


_books: dict[tuple[str, int], OrderBook] = {}
_loading = threading.Lock()


_CHECKED = "marketplace.order_books"  # session.info: {vertical id: (transaction, book)} checked in it


def current_book(session: Session, vertical_id: int) -> OrderBook:
    """This process's book for the vertical, reloaded first if an order changed since it was built.
    Checked once per transaction: the leads of one intake batch share a check."""
    transaction = session.get_transaction()
    checked = session.info.setdefault(_CHECKED, {}).get(vertical_id)
    if checked is not None and checked[0] is transaction:
        return checked[1]
    book = _current_book(session, vertical_id)
    session.info[_CHECKED][vertical_id] = (transaction, book)
    return book


def _current_book(session: Session, vertical_id: int) -> OrderBook:
    # Core on the session's connection: order tables only, so no autoflush of the caller's pending
    # lead (intake writes the lead's outcome once, at its commit) and none of the ORM's overhead.
    stamp = session.connection().execute(
        select(OrderBookVersion.version).where(OrderBookVersion.vertical_id == vertical_id)).scalar_one_or_none()
    key = (session.get_bind().engine.url.render_as_string(hide_password=True), vertical_id)
    book = _books.get(key)
    if book is not None and book.stamp == stamp:
        return book
    with _loading:
        book = _books.get(key)
        if book is None or book.stamp != stamp:
            # The stamp was read first: orders loaded now are at least that new, so a change
            # committed in between only costs one more reload.
            rows = [_order_row(row) for row in session.connection().execute(
                select(*BOOK_COLUMNS).where(
                    Order.vertical_id == vertical_id, Order.status == "active",
                    Order.advertiser_id.not_in(select(Advertiser.id).where(Advertiser.status != "active"))))]
            book = compile_book(vertical_id, stamp, rows)
            _books[key] = book
    return book


def match(session: Session, lead: Lead, *, now: datetime) -> list[OrderTerms]:
    """The active orders of the lead's vertical whose filters and schedule take it at `now`, best
    price first."""
    now = now.astimezone(UTC)
    return current_book(session, lead.vertical_id).match(lead, now)


def note_capped(session: Session, vertical_id: int, order_id: int, until: datetime) -> None:
    book = _books.get((session.get_bind().engine.url.render_as_string(hide_password=True), vertical_id))
    if book is not None:
        book.note_capped(order_id, until)
