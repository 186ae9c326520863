"""Advertiser orders: creating, reading and changing them, with every bad filter named at once."""

from __future__ import annotations

import re
import secrets
import zoneinfo
from decimal import Decimal
from functools import lru_cache
from math import isfinite
from typing import Any

import msgspec
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from leadmarket.clock import utcnow
from leadmarket.db import transaction
from leadmarket.errors import FieldError, InvalidInput, NotFound, PermissionDenied
from leadmarket.identity import Principal
from leadmarket.money import from_minor, to_minor
from leadmarket.paging import Page, PageRequest, paginate
from leadmarket.upsert import insert_or_take_over
from leadmarket.validators import check_http_url, check_name, reject_nul
from marketplace import normalize
from marketplace.models import Advertiser, Vertical
from marketplace.order_models import ORDER_STATUSES, Order, OrderBookVersion
from marketplace.order_schemas import (DeliveryView, FieldRange, OrderCaps, OrderCreate, OrderDelivery, OrderFilters,
                                       OrderSchedule, OrderUpdate, OrderView)

TEMPERATURES = ("cold", "warm", "hot")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_INDEX = {name: i for i, day in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                                              "sunday")) for name in (day, day[:3])}
POSTAL_PREFIX = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,19}$")
MAX_LIST = 1000          # values per list filter
MAX_COUNT_CAP = 10**9
MAX_BOUND = 10**15       # range bounds stay exact as JSON numbers for any client
RANGE_TYPES = ("integer", "number")
CHOICE_TYPES = ("choice", "string", "boolean")


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def known_time_zone(name: str) -> bool:
    """Only names from the IANA database: a path such as "../x" never reaches the file system."""
    return name in _time_zones()


def postal_key(code: str) -> str:
    """How postal codes and prefixes compare: upper case, no spaces."""
    return code.upper().replace(" ", "")


def create_order(session: Session, principal: Principal, data: OrderCreate) -> OrderView:
    advertiser = _advertiser(session, principal)
    reject_nul(data)
    errors: list[FieldError] = []
    vertical = session.execute(select(Vertical).where(Vertical.slug == data.vertical)).scalar_one_or_none()
    if vertical is None:
        raise InvalidInput.one("vertical", f"no vertical with slug {data.vertical!r}")
    if vertical.currency != advertiser.currency:
        raise InvalidInput.one("vertical",
                               f"is priced in {vertical.currency}; your account is in {advertiser.currency}")
    given = {f: getattr(data, f) for f in data.__struct_fields__ if f != "vertical"}
    given["name"] = data.name if data.name is not None else f"{vertical.name} leads"
    columns = _columns(vertical, given, errors)
    if errors:
        raise InvalidInput(errors)
    now = utcnow()
    order = Order(advertiser_id=advertiser.id, vertical_id=vertical.id, currency=vertical.currency, created_at=now,
                  updated_at=now, **columns)
    with transaction(session):
        session.add(order)
        session.flush()
        bump_order_book(session, vertical.id)
    return order_view(order, vertical)


def update_order(session: Session, principal: Principal, order_id: int, data: OrderUpdate) -> OrderView:
    """Change what the update names; the next lead matched sees the change (the book version moves)."""
    reject_nul(data)
    with transaction(session):
        # FOR NO KEY UPDATE: an intake selling through this order (which only key-shares the row
        # for its sale's foreign key) is not held up by a change of price or filters.
        order = session.execute(orders_visible_to(principal).where(Order.id == order_id)
                                .with_for_update(key_share=True)).scalar_one_or_none()
        if order is None:
            raise NotFound(f"no order {order_id}")
        vertical = session.get(Vertical, order.vertical_id)
        given = {f: getattr(data, f) for f in data.__struct_fields__ if getattr(data, f) is not msgspec.UNSET}
        errors: list[FieldError] = []
        columns = _columns(vertical, given, errors)
        if errors:
            raise InvalidInput(errors)
        for column, value in columns.items():
            setattr(order, column, value)
        order.updated_at = utcnow()
        bump_order_book(session, order.vertical_id)
    return order_view(order, vertical)


def get_order(session: Session, principal: Principal, order_id: int) -> OrderView:
    order = session.execute(orders_visible_to(principal).where(Order.id == order_id)).scalar_one_or_none()
    if order is None:
        raise NotFound(f"no order {order_id}")
    return order_view(order, session.get(Vertical, order.vertical_id))


def list_orders(session: Session, principal: Principal, *, status: str | None = None, limit: int = 100,
                offset: int = 0) -> list[OrderView]:
    query = orders_visible_to(principal)
    if status is not None:
        if status not in ORDER_STATUSES:
            raise InvalidInput.one("status", "must be active or paused")
        query = query.where(Order.status == status)
    orders = list(session.execute(query.order_by(Order.id).limit(limit).offset(offset)).scalars())
    verticals = {v.id: v for v in session.execute(
        select(Vertical).where(Vertical.id.in_({o.vertical_id for o in orders}))).scalars()}
    return [order_view(o, verticals[o.vertical_id]) for o in orders]


ORDER_SORTS = {"id": Order.id, "name": Order.name, "price": Order.price_minor, "status": Order.status,
               "updated_at": Order.updated_at}


def orders_page(session: Session, principal: Principal, request: PageRequest, *,
                status: str | None = None) -> Page[OrderView]:
    """One page of the caller's orders (portal tables), sorted by a known column."""
    query = orders_visible_to(principal)
    if status is not None:
        if status not in ORDER_STATUSES:
            raise InvalidInput.one("status", "must be active or paused")
        query = query.where(Order.status == status)
    rows = paginate(session, query, request, ORDER_SORTS, "id")
    verticals = {v.id: v for v in session.execute(
        select(Vertical).where(Vertical.id.in_({o.vertical_id for o in rows.items}))).scalars()}
    return Page(items=[order_view(o, verticals[o.vertical_id]) for o in rows.items], request=rows.request,
                total=rows.total)


def check_targeting(vertical: Vertical, filters: OrderFilters, schedule: OrderSchedule | None,
                    time_zone: str) -> dict[str, Any]:
    """The order columns for these filters and schedule, checked as create_order checks them;
    InvalidInput names every bad field (for previews of an order not saved yet)."""
    errors: list[FieldError] = []
    columns = _columns(vertical, {"filters": filters, "schedule": schedule, "time_zone": time_zone}, errors)
    if errors:
        raise InvalidInput(errors)
    return columns


def orders_visible_to(principal: Principal) -> Select[tuple[Order]]:
    """The one scoping query for orders: an advertiser sees their own; nobody else sees any."""
    if principal.advertiser_id is None:
        return select(Order).where(False)
    return select(Order).where(Order.advertiser_id == principal.advertiser_id)


def bump_order_book(session: Session, vertical_id: int) -> None:
    """Tell every process's matching cache that this vertical's orders changed (at commit).

    The stamp is random, not a counter: a database rebuilt from scratch (tests truncate) must
    not hand out a stamp some process already cached for other orders."""
    stamp = secrets.randbits(62)
    insert_or_take_over(session, OrderBookVersion, {"vertical_id": vertical_id, "version": stamp},
                        conflict_columns=["vertical_id"], take_over={"version": stamp},
                        when=None, returning=OrderBookVersion.version)


def _advertiser(session: Session, principal: Principal) -> Advertiser:
    if principal.advertiser_id is None:
        raise PermissionDenied("only advertisers place orders")
    advertiser = session.get(Advertiser, principal.advertiser_id)
    if advertiser is None:
        raise NotFound("no such advertiser")
    return advertiser


def _columns(vertical: Vertical, given: dict[str, Any], errors: list[FieldError]) -> dict[str, Any]:
    """Column values for the sections in `given`, each checked against the vertical; problems go to `errors`."""
    columns: dict[str, Any] = {}
    currency = vertical.currency
    if "name" in given:
        if (problem := check_name(given["name"])) is not None:
            errors.append(problem)
        columns["name"] = given["name"].strip()
    if "status" in given:
        if given["status"] not in ORDER_STATUSES:
            errors.append(FieldError("status", "must be active or paused"))
        columns["status"] = given["status"]
    if "exclusive" in given:
        columns["exclusive"] = given["exclusive"]
    if "price" in given:
        columns["price_minor"] = _money(given["price"], currency, "price", errors)
    if "filters" in given:
        columns |= _filters(vertical, given["filters"], errors)
    if "caps" in given:
        columns |= _caps(given["caps"], currency, errors)
    if "time_zone" in given:
        if not known_time_zone(given["time_zone"]):
            errors.append(FieldError("time_zone", "must be an IANA time zone such as America/New_York"))
        columns["time_zone"] = given["time_zone"]
    if "schedule" in given:
        columns["schedule_slots"] = _schedule(given["schedule"], errors)
    if "delivery" in given:
        columns |= _delivery(given["delivery"], errors)
    return columns


def _money(amount: Decimal, currency: str, field: str, errors: list[FieldError]) -> int:
    try:
        return to_minor(amount, currency, field=field)
    except InvalidInput as exc:
        errors.extend(exc.errors)
        return 0


def _filters(vertical: Vertical, filters: OrderFilters, errors: list[FieldError]) -> dict[str, Any]:
    at = "filters"
    specs = {spec["name"]: spec for spec in vertical.fields}
    for name in ("countries", "regions", "postal_prefixes"):
        if len(getattr(filters, name)) > MAX_LIST:
            errors.append(FieldError(f"{at}.{name}", f"must list at most {MAX_LIST} values"))
    countries: list[str] = []
    for i, code in enumerate(filters.countries):
        try:
            countries.append(normalize.country(code))
        except ValueError as exc:
            errors.append(FieldError(f"{at}.countries[{i}]", str(exc)))
    regions: list[str] = []
    for i, region in enumerate(filters.regions):
        cleaned = normalize.clean_text(region)
        if not cleaned or len(cleaned) > 100:
            errors.append(FieldError(f"{at}.regions[{i}]", "must be 1 to 100 characters"))
        regions.append(cleaned)
    prefixes: list[str] = []
    for i, prefix in enumerate(filters.postal_prefixes):
        key = postal_key(prefix.strip())
        if not POSTAL_PREFIX.match(key):
            errors.append(FieldError(f"{at}.postal_prefixes[{i}]", "must be 1 to 20 letters, digits or hyphens"))
        prefixes.append(key)
    ranges: dict[str, dict[str, int | float]] = {}
    for name, bounds in filters.ranges.items():
        where = f"{at}.ranges.{name}"
        spec = specs.get(name)
        if spec is None:
            errors.append(FieldError(where, f"is not a field of the {vertical.slug} vertical"))
        elif spec["type"] not in RANGE_TYPES:
            errors.append(FieldError(where, f"a range needs an integer or number field; {name} is a "
                                            f"{spec['type']} field"))
        elif _range_problem(bounds, where, errors):
            ranges[name] = {k: v for k, v in (("min", bounds.min), ("max", bounds.max)) if v is not None}
    choices: dict[str, list[str | bool]] = {}
    for name, values in filters.choices.items():
        where = f"{at}.choices.{name}"
        spec = specs.get(name)
        if spec is None:
            errors.append(FieldError(where, f"is not a field of the {vertical.slug} vertical"))
        elif spec["type"] not in CHOICE_TYPES:
            errors.append(FieldError(where, f"choices need a choice, string or boolean field; {name} is a "
                                            f"{spec['type']} field (use a range)"))
        elif not values or len(values) > MAX_LIST:
            errors.append(FieldError(where, f"must list 1 to {MAX_LIST} accepted values"))
        elif (problem := _choice_problem(spec, values)) is not None:
            errors.append(FieldError(where, problem))
        else:
            choices[name] = list(dict.fromkeys(values))
    if filters.min_temperature is not None and filters.min_temperature not in TEMPERATURES:
        errors.append(FieldError(f"{at}.min_temperature", "must be cold, warm or hot"))
    if filters.max_fraud_score is not None and not 0 <= filters.max_fraud_score <= 100:
        errors.append(FieldError(f"{at}.max_fraud_score", "must be between 0 and 100"))
    return {"countries": sorted(set(countries)), "regions": list(dict.fromkeys(regions)),
            "postal_prefixes": sorted(set(prefixes)), "ranges": ranges, "choices": choices,
            "min_temperature": filters.min_temperature, "max_fraud_score": filters.max_fraud_score}


def _range_problem(bounds: FieldRange, where: str, errors: list[FieldError]) -> bool:
    """True when the range is usable; otherwise says why in `errors`."""
    if bounds.min is None and bounds.max is None:
        errors.append(FieldError(where, "give min, max or both"))
        return False
    for key in ("min", "max"):
        value = getattr(bounds, key)
        if value is not None and (not isfinite(value) or abs(value) > MAX_BOUND):
            errors.append(FieldError(f"{where}.{key}", "must be a number between -10^15 and 10^15"))
            return False
    if bounds.min is not None and bounds.max is not None and bounds.min > bounds.max:
        errors.append(FieldError(f"{where}.min", "must not be greater than max"))
        return False
    return True


def _choice_problem(spec: dict[str, Any], values: list[str | bool]) -> str | None:
    if spec["type"] == "boolean":
        return None if all(isinstance(v, bool) for v in values) else "a boolean field accepts true and false"
    if not all(isinstance(v, str) for v in values):
        return "must be strings"
    allowed = spec.get("choices")
    if allowed:
        unknown = [v for v in values if v not in allowed]
        if unknown:
            return f"{', '.join(map(str, unknown))} is not a choice of {spec['name']} ({', '.join(allowed)})"
    return None


def _caps(caps: OrderCaps, currency: str, errors: list[FieldError]) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for key in ("hourly", "daily", "monthly"):
        value = getattr(caps, key)
        if value is not None and not 0 <= value <= MAX_COUNT_CAP:
            errors.append(FieldError(f"caps.{key}", f"must be between 0 and {MAX_COUNT_CAP}"))
        columns[f"cap_{key}"] = value
    for key in ("daily", "monthly"):
        amount = getattr(caps, f"{key}_budget")
        columns[f"budget_{key}_minor"] = (None if amount is None
                                          else _money(amount, currency, f"caps.{key}_budget", errors))
    return columns


def _schedule(schedule: OrderSchedule | None, errors: list[FieldError]) -> list[int] | None:
    if schedule is None:
        return None
    days: set[int] = set()
    for i, day in enumerate(schedule.days):
        if (index := DAY_INDEX.get(day.strip().lower())) is None:
            errors.append(FieldError(f"schedule.days[{i}]", "must be a weekday: mon, tue, wed, thu, fri, sat or sun"))
        else:
            days.add(index)
    hours: set[int] = set()
    for i, hour in enumerate(schedule.hours):
        if not 0 <= hour <= 23:
            errors.append(FieldError(f"schedule.hours[{i}]", "must be an hour from 0 to 23"))
        else:
            hours.add(hour)
    if not schedule.days:
        errors.append(FieldError("schedule.days", "give at least one weekday (leave schedule out to buy always)"))
    if not schedule.hours:
        errors.append(FieldError("schedule.hours", "give at least one hour (leave schedule out to buy always)"))
    return sorted(day * 24 + hour for day in days for hour in hours)


def _delivery(delivery: OrderDelivery | None, errors: list[FieldError]) -> dict[str, Any]:
    if delivery is None or delivery.webhook_url is None:
        if delivery is not None and delivery.secret is not None:
            errors.append(FieldError("delivery.webhook_url", "is required with a secret"))
        return {"webhook_url": None, "webhook_secret": None}
    url = delivery.webhook_url.strip()
    if (problem := check_http_url(url, "delivery.webhook_url")) is not None:
        errors.append(problem)
    secret = delivery.secret
    if secret is None:
        errors.append(FieldError("delivery.secret", "is required with a webhook_url: every delivery is signed with it"))
    elif not 16 <= len(secret) <= 200 or not secret.isprintable():
        errors.append(FieldError("delivery.secret", "must be 16 to 200 printable characters"))
    return {"webhook_url": url, "webhook_secret": secret}


def order_view(order: Order, vertical: Vertical) -> OrderView:
    currency = order.currency
    schedule = None
    if order.schedule_slots is not None:
        schedule = OrderSchedule(days=[WEEKDAYS[d] for d in sorted({s // 24 for s in order.schedule_slots})],
                                 hours=sorted({s % 24 for s in order.schedule_slots}))
    money = (lambda minor: None if minor is None else from_minor(minor, currency))
    return OrderView(
        id=order.id, advertiser_id=order.advertiser_id, vertical=vertical.slug, name=order.name, status=order.status,
        price=from_minor(order.price_minor, currency), currency=currency, exclusive=order.exclusive,
        filters=OrderFilters(countries=order.countries, regions=order.regions, postal_prefixes=order.postal_prefixes,
                             ranges={k: FieldRange(**v) for k, v in order.ranges.items()},
                             choices=order.choices, min_temperature=order.min_temperature,
                             max_fraud_score=order.max_fraud_score),
        caps=OrderCaps(hourly=order.cap_hourly, daily=order.cap_daily, monthly=order.cap_monthly,
                       daily_budget=money(order.budget_daily_minor), monthly_budget=money(order.budget_monthly_minor)),
        time_zone=order.time_zone, schedule=schedule,
        delivery=DeliveryView(webhook_url=order.webhook_url, has_secret=order.webhook_secret is not None),
        created_at=order.created_at, updated_at=order.updated_at)
