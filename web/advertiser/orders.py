"""Orders: list (filter, sort, page), create, edit, pause and resume — filters, caps, schedule,
price, shared or exclusive — with a live count of the recent leads the filters would have matched.

The form's input names are the domain's field names ("price", "caps.daily", "filters.ranges.
vehicle_year.min"), so the domain's errors land beside their inputs; this module only reads the
form into the domain's structs (numbers as numbers, lists from comma-separated text).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template

from api.deps import Caller, DbSession
from leadmarket.accounts import TIME_ZONES
from leadmarket.errors import FieldError, InvalidInput
from marketplace import order_reach, orders, verticals
from marketplace.models import Vertical
from marketplace.order_schemas import (FieldRange, OrderCaps, OrderCreate, OrderDelivery, OrderFilters,
                                       OrderSchedule, OrderUpdate, OrderView)
from marketplace.orders import WEEKDAYS
from web.advertiser.common import Order, PageNo, PerPage, Sort, paging, without_indexes
from web.forms import FormBody, FormState, checkbox, many, optional_decimal, optional_int, text
from web.render import fragment, go, page

OrderId = Annotated[int, PathParameter(ge=1, le=2**31 - 1)]
HOURS = list(range(24))
TEMPERATURES = [("", "Any"), ("cold", "Cold or warmer"), ("warm", "Warm or hot"), ("hot", "Hot only")]
STATUS_FILTER = [("", "All"), ("active", "Active"), ("paused", "Paused")]
NUMERIC = ("integer", "number")


# ---------------------------------------------------------------- reading the form


def _list(values: dict[str, Any], name: str) -> list[str]:
    return [part.strip() for part in text(values, name).replace("\n", ",").split(",") if part.strip()]


def _number(raw: str, name: str, errors: list[FieldError]) -> int | float | None:
    if not raw:
        return None
    try:
        number = Decimal(raw)
    except ArithmeticError:
        errors.append(FieldError(name, "must be a number"))
        return None
    if not number.is_finite():
        errors.append(FieldError(name, "must be a number"))
        return None
    return int(number) if number == number.to_integral_value() else float(number)


def _targeting(data: dict[str, Any], vertical: Vertical | None, errors: list[FieldError]
               ) -> tuple[OrderFilters, OrderSchedule | None, str]:
    ranges: dict[str, FieldRange] = {}
    choices: dict[str, list[str | bool]] = {}
    for spec in vertical.fields if vertical is not None else []:
        name = spec["name"]
        if spec["type"] in NUMERIC:
            low = _number(text(data, f"filters.ranges.{name}.min"), f"filters.ranges.{name}.min", errors)
            high = _number(text(data, f"filters.ranges.{name}.max"), f"filters.ranges.{name}.max", errors)
            if low is not None or high is not None:
                ranges[name] = FieldRange(min=low, max=high)
        elif spec["type"] == "boolean":
            picked = many(data, f"filters.choices.{name}")
            if picked and len(set(picked)) < 2:
                choices[name] = [value == "true" for value in picked]
        elif spec.get("choices"):
            picked = many(data, f"filters.choices.{name}")
            if picked and set(picked) != set(spec["choices"]):
                choices[name] = list(picked)
    filters = OrderFilters(countries=_list(data, "filters.countries"), regions=_list(data, "filters.regions"),
                           postal_prefixes=_list(data, "filters.postal_prefixes"), ranges=ranges, choices=choices,
                           min_temperature=text(data, "filters.min_temperature") or None,
                           max_fraud_score=optional_int(data, "filters.max_fraud_score", errors))
    days, hours = many(data, "schedule.days"), many(data, "schedule.hours")
    schedule: OrderSchedule | None = None
    if set(days) != set(WEEKDAYS) or set(hours) != {str(h) for h in HOURS}:  # all ticked: buy around the clock
        hour_numbers = []
        for raw in hours:
            if raw.isdigit():
                hour_numbers.append(int(raw))
            else:
                errors.append(FieldError("schedule.hours", "must be hours from 0 to 23"))
        schedule = OrderSchedule(days=days, hours=hour_numbers)
    return filters, schedule, text(data, "time_zone") or "UTC"


def _caps(data: dict[str, Any], errors: list[FieldError]) -> OrderCaps:
    return OrderCaps(hourly=optional_int(data, "caps.hourly", errors), daily=optional_int(data, "caps.daily", errors),
                     monthly=optional_int(data, "caps.monthly", errors),
                     daily_budget=optional_decimal(data, "caps.daily_budget", errors),
                     monthly_budget=optional_decimal(data, "caps.monthly_budget", errors))


def _price(data: dict[str, Any], errors: list[FieldError]) -> Decimal:
    price = optional_decimal(data, "price", errors)
    if price is None and not any(e.field == "price" for e in errors):
        errors.append(FieldError("price", "is required"))
    return price if price is not None else Decimal(0)


def _delivery(data: dict[str, Any], current: OrderView | None) -> OrderDelivery | None | bool:
    """The delivery section to send, or False to leave it as it is (a blank secret keeps the saved one)."""
    url, secret = text(data, "delivery.webhook_url"), text(data, "delivery.secret")
    if current is not None and url == (current.delivery.webhook_url or "") and not secret:
        return False
    if not url and not secret:
        return None
    return OrderDelivery(webhook_url=url or None, secret=secret or None)


def _items(data: dict[str, Any]) -> Callable[[str], list[str]]:
    """How the form sent each list: comma-separated text, or ticked boxes."""
    return lambda name: many(data, name) if name.startswith("schedule.") else _list(data, name)


def _vertical(session: DbSession, slug: str) -> Vertical | None:
    return next((v for v in verticals.list_verticals(session) if v.slug == slug), None)


# ---------------------------------------------------------------- showing the form


def _values_of(order: OrderView) -> dict[str, Any]:
    f, caps = order.filters, order.caps
    values: dict[str, Any] = {
        "name": order.name, "vertical": order.vertical, "price": str(order.price), "exclusive": order.exclusive,
        "status": order.status, "time_zone": order.time_zone,
        "filters.countries": ", ".join(f.countries), "filters.regions": ", ".join(f.regions),
        "filters.postal_prefixes": ", ".join(f.postal_prefixes), "filters.min_temperature": f.min_temperature or "",
        "filters.max_fraud_score": "" if f.max_fraud_score is None else str(f.max_fraud_score),
        "caps.hourly": caps.hourly, "caps.daily": caps.daily, "caps.monthly": caps.monthly,
        "caps.daily_budget": caps.daily_budget, "caps.monthly_budget": caps.monthly_budget,
        "delivery.webhook_url": order.delivery.webhook_url or "",
        "schedule.days": list(order.schedule.days) if order.schedule else list(WEEKDAYS),
        "schedule.hours": [str(h) for h in (order.schedule.hours if order.schedule else HOURS)],
    }
    for name, bounds in f.ranges.items():
        values[f"filters.ranges.{name}.min"] = "" if bounds.min is None else bounds.min
        values[f"filters.ranges.{name}.max"] = "" if bounds.max is None else bounds.max
    for name, accepted in f.choices.items():
        values[f"filters.choices.{name}"] = [str(v).lower() if isinstance(v, bool) else v for v in accepted]
    return {k: ("" if v is None else v) for k, v in values.items()}


def _form_values(data: dict[str, Any]) -> dict[str, Any]:
    """What was typed, kept as typed (lists for checkboxes) so a form with errors loses nothing."""
    values: dict[str, Any] = {}
    for name, raw in data.items():
        if name == "_csrf_token":
            continue
        values[name] = raw if isinstance(raw, list) or not (name.startswith("schedule.") or
                                                           name.startswith("filters.choices.")) else [raw]
    for name in ("schedule.days", "schedule.hours"):
        values.setdefault(name, [])
    values["exclusive"] = checkbox(data, "exclusive")
    return values


def _form_page(request: Request[Any, Any, Any], session: DbSession, principal: Caller, form: FormState, *,
               order: OrderView | None = None, status_code: int = 200) -> Template:
    all_verticals = verticals.list_verticals(session)
    slug = form.value("vertical") or (all_verticals[0].slug if all_verticals else "")
    vertical = next((v for v in all_verticals if v.slug == slug), None)
    form.values.setdefault("vertical", slug)
    return page(request, "advertiser/order_form.html", form=form, order=order, vertical=vertical,
                vertical_choices=[(v.slug, v.name) for v in all_verticals], reach=_reach_or_errors(
                    session, principal, form.values, vertical), temperatures=TEMPERATURES, weekdays=WEEKDAYS,
                hours=HOURS, time_zones=sorted(TIME_ZONES), status_code=status_code)


def _reach_or_errors(session: DbSession, principal: Caller, data: dict[str, Any], vertical: Vertical | None
                     ) -> dict[str, Any]:
    if vertical is None:
        return {"reach": None, "errors": {"vertical": "choose a vertical"}}
    errors: list[FieldError] = []
    filters, schedule, time_zone = _targeting(data, vertical, errors)
    try:
        if errors:
            raise InvalidInput(errors)
        reach = order_reach.count_recent_matches(session, principal, vertical.slug, filters, schedule=schedule,
                                                 time_zone=time_zone)
    except InvalidInput as exc:
        return {"reach": None, "errors": FormState.failed({}, without_indexes(exc, _items(data))).errors}
    return {"reach": reach, "errors": {}}


# ---------------------------------------------------------------- pages


@get("/advertiser/orders", include_in_schema=False, sync_to_thread=True)
def orders_list(request: Request[Any, Any, Any], session: DbSession, principal: Caller,
                status: Annotated[str | None, QueryParameter(required=False, max_length=20)] = None,
                page_no: PageNo = None, per_page: PerPage = None, sort: Sort = None, order: Order = None
                ) -> Template:
    form = FormState(values={"status": status or ""})
    try:
        listing = orders.orders_page(session, principal, paging(page_no, per_page, sort, order), status=status or None)
    except InvalidInput as exc:
        form = FormState.failed(form.values, exc)
        listing = orders.orders_page(session, principal, paging(1, per_page, sort, order))
    extra = f"&status={status}" if status and not form.errors else ""
    return page(request, "advertiser/orders.html", listing=listing, form=form, statuses=STATUS_FILTER, extra=extra)


@get("/advertiser/orders/new", include_in_schema=False, sync_to_thread=True)
def new_order(request: Request[Any, Any, Any], session: DbSession, principal: Caller,
              vertical: Annotated[str | None, QueryParameter(required=False, max_length=64)] = None) -> Template:
    values: dict[str, Any] = {"vertical": vertical or "", "status": "active", "time_zone": principal.time_zone,
                              "schedule.days": list(WEEKDAYS), "schedule.hours": [str(h) for h in HOURS]}
    return _form_page(request, session, principal, FormState(values=values))


@post("/advertiser/orders/reach", include_in_schema=False, sync_to_thread=True, status_code=200)
def reach(data: FormBody, session: DbSession, principal: Caller) -> Template:
    """The live count: the form as it stands, judged against the recent leads."""
    vertical = _vertical(session, text(data, "vertical"))
    return fragment("advertiser/_reach.html", **_reach_or_errors(session, principal, data, vertical))


@post("/advertiser/orders", include_in_schema=False, sync_to_thread=True, status_code=303)
def create(request: Request[Any, Any, Any], data: FormBody, session: DbSession, principal: Caller
           ) -> Template | Redirect:
    errors: list[FieldError] = []
    vertical = _vertical(session, text(data, "vertical"))
    filters, schedule, time_zone = _targeting(data, vertical, errors)
    caps, price = _caps(data, errors), _price(data, errors)
    delivery = _delivery(data, None)
    try:
        if errors:
            raise InvalidInput(errors)
        created = orders.create_order(session, principal, OrderCreate(
            vertical=text(data, "vertical"), price=price, exclusive=checkbox(data, "exclusive"),
            name=text(data, "name") or None, filters=filters, caps=caps, time_zone=time_zone, schedule=schedule,
            delivery=delivery if isinstance(delivery, OrderDelivery) else None,
            status=text(data, "status") or "active"))
    except InvalidInput as exc:
        form = FormState.failed(_form_values(data), without_indexes(exc, _items(data)))
        return _form_page(request, session, principal, form, status_code=422)
    return go(request, "/advertiser/orders", f"Order “{created.name}” created (#{created.id}), {created.status}.")


@get("/advertiser/orders/{order_id:int}/edit", include_in_schema=False, sync_to_thread=True)
def edit_order(request: Request[Any, Any, Any], order_id: OrderId, session: DbSession, principal: Caller) -> Template:
    order = orders.get_order(session, principal, order_id)  # another advertiser's: a 404 page
    return _form_page(request, session, principal, FormState(values=_values_of(order)), order=order)


@post("/advertiser/orders/{order_id:int}", include_in_schema=False, sync_to_thread=True, status_code=303)
def update(request: Request[Any, Any, Any], order_id: OrderId, data: FormBody, session: DbSession,
           principal: Caller) -> Template | Redirect:
    current = orders.get_order(session, principal, order_id)
    errors: list[FieldError] = []
    vertical = _vertical(session, current.vertical)
    filters, schedule, time_zone = _targeting(data, vertical, errors)
    caps, price = _caps(data, errors), _price(data, errors)
    delivery = _delivery(data, current)
    changes: dict[str, Any] = {"price": price, "exclusive": checkbox(data, "exclusive"), "filters": filters,
                               "caps": caps, "time_zone": time_zone, "schedule": schedule}
    if text(data, "name"):
        changes["name"] = text(data, "name")
    if text(data, "status"):
        changes["status"] = text(data, "status")
    if delivery is not False:
        changes["delivery"] = delivery
    try:
        if errors:
            raise InvalidInput(errors)
        updated = orders.update_order(session, principal, order_id, OrderUpdate(**changes))
    except InvalidInput as exc:
        values = {**_form_values(data), "vertical": current.vertical}
        return _form_page(request, session, principal, FormState.failed(values, without_indexes(exc, _items(data))),
                          order=current, status_code=422)
    return go(request, "/advertiser/orders", f"Order “{updated.name}” saved.")


@post("/advertiser/orders/{order_id:int}/status", include_in_schema=False, sync_to_thread=True, status_code=303)
def set_status(request: Request[Any, Any, Any], order_id: OrderId, data: FormBody, session: DbSession,
               principal: Caller) -> Redirect:
    wanted = "paused" if text(data, "status") == "paused" else "active"
    updated = orders.update_order(session, principal, order_id, OrderUpdate(status=wanted))
    verb = "paused: it buys nothing until you resume it" if wanted == "paused" else "resumed: it buys leads again"
    return go(request, "/advertiser/orders", f"Order “{updated.name}” {verb}.")


ORDER_ROUTES = [orders_list, new_order, reach, create, edit_order, update, set_status]
