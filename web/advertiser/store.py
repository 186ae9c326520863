"""The lead store pages: masked previews with filters, bought shared or exclusive (HTMX, or a
plain form without script), with a clear answer when a lead is sold out or the balance is short."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template

from api.deps import Caller, DbSession
from leadmarket.errors import Conflict, InvalidInput, NotFound
from marketplace import store, verticals
from marketplace.sales import AdvertiserCannotBuy, LeadAlreadySold
from marketplace.store import StoreFilters
from web.forms import FormBody, FormState, checkbox, text
from web.render import fragment, go, page

PER_PAGE = 24
Filter = Annotated[str | None, QueryParameter(required=False, max_length=100)]
AGES = [("", "Any age"), ("24", "Up to 1 day"), ("72", "Up to 3 days"), ("168", "Up to 7 days"),
        ("720", "Up to 30 days")]
SORTS = [("newest", "Newest first"), ("oldest", "Oldest first"), ("price_asc", "Cheapest first"),
         ("price_desc", "Dearest first")]
TEMPERATURES = [("", "Any"), ("cold", "Cold"), ("warm", "Warm"), ("hot", "Hot")]


def _why_not(exc: Conflict | NotFound) -> str:
    if isinstance(exc, LeadAlreadySold):
        return "Sold out: this lead was sold meanwhile, exclusively or to as many buyers as it may have."
    if isinstance(exc, AdvertiserCannotBuy):
        if exc.reason == "insufficient_funds":
            return "Insufficient balance: your balance and credit do not cover this price. Top up on the Billing page."
        return f"You cannot buy this lead: {AdvertiserCannotBuy.REASONS[exc.reason].removeprefix('the advertiser ')}."
    if isinstance(exc, NotFound):
        return "This lead is no longer in the store."
    return str(exc)


def _store_page(request: Request[Any, Any, Any], session: DbSession, principal: Caller, values: dict[str, str],
                offset: int, *, refusals: dict[int, str] | None = None, status_code: int = 200) -> Template:
    form = FormState(values=values)
    max_age = values.get("max_age_hours") or None
    filters = StoreFilters(vertical=values.get("vertical") or None, country=values.get("country") or None,
                           region=values.get("region") or None, temperature=values.get("temperature") or None,
                           max_age_hours=int(max_age) if max_age and max_age.isdigit() else None,
                           sort=values.get("sort") or "newest", limit=PER_PAGE, offset=max(offset, 0))
    try:
        listing = store.list_store_leads(session, principal, filters)
    except InvalidInput as exc:
        form = FormState.failed(values, exc)
        listing = None
    query = urlencode({k: v for k, v in values.items() if v})
    return page(request, "advertiser/store.html", form=form, listing=listing, query=query, refusals=refusals or {},
                vertical_choices=[("", "All verticals")] + [(v.slug, v.name) for v in verticals.list_verticals(session)],
                ages=AGES, sorts=SORTS, temperatures=TEMPERATURES, status_code=status_code)


@get("/advertiser/store", include_in_schema=False, sync_to_thread=True)
def store_page(request: Request[Any, Any, Any], session: DbSession, principal: Caller, vertical: Filter = None,
               country: Filter = None, region: Filter = None, temperature: Filter = None,
               max_age_hours: Filter = None, sort: Filter = None,
               offset: Annotated[int, QueryParameter(ge=0, le=1_000_000)] = 0) -> Template:
    values = {"vertical": vertical or "", "country": (country or "").strip().upper(), "region": (region or "").strip(),
              "temperature": temperature or "", "max_age_hours": max_age_hours or "", "sort": sort or "newest"}
    return _store_page(request, session, principal, values, offset)


@post("/advertiser/store/{lead_id:int}/buy", include_in_schema=False, sync_to_thread=True, status_code=303)
def buy(request: Request[Any, Any, Any], lead_id: Annotated[int, PathParameter(ge=1, le=2**62)], data: FormBody,
        session: DbSession, principal: Caller) -> Template | Redirect | Response[Any]:
    exclusive = text(data, "exclusive") == "1" or checkbox(data, "exclusive_only")
    try:
        purchase = store.buy_lead(session, principal, lead_id, exclusive=exclusive)
    except (Conflict, NotFound) as exc:
        reason = _why_not(exc)
        if request.headers.get("hx-request"):
            return fragment("advertiser/_store_refused.html", lead_id=lead_id, reason=reason)
        values = {k: text(data, k) for k in ("vertical", "country", "region", "temperature", "max_age_hours", "sort")}
        return _store_page(request, session, principal, values, 0, refusals={lead_id: reason}, status_code=409)
    kind = "exclusive" if purchase.exclusive else f"shared, {purchase.sold_label}"
    return go(request, f"/advertiser/purchases/{purchase.sale_id}",
                 f"Bought lead {purchase.lead_id} ({kind}) for {purchase.price} {purchase.currency}.")


STORE_ROUTES = [store_page, buy]
