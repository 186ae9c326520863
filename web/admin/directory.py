"""Admin pages for the network's directory: affiliates, advertisers, offers and verticals —
lists with paging and sorting, create forms, pause and reactivate."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.params import PathParameter
from litestar.response import Redirect, Template

from affiliates import accounts as affiliate_accounts
from affiliates import offers
from affiliates.schemas import AffiliateCreate, OfferCreate
from api.deps import Caller, DbSession
from leadmarket.errors import Conflict, FieldError, InvalidInput
from marketplace import advertisers, verticals
from marketplace.schemas import AdvertiserCreate, FieldSpec, VerticalCreate
from web.paging import Order, PageNo, PerPage, Sort, paging
from web.forms import FormBody, FormState, optional_decimal, optional_int, text
from web.render import go, page

FIELDS_EXAMPLE = ('[{"name": "age", "type": "integer", "required": true, "min": 18, "max": 99},\n'
                  ' {"name": "vehicle", "type": "choice", "choices": ["car", "van"]}]')


def _conflict(values: dict[str, Any], field: str, exc: Conflict) -> FormState:
    return FormState(values=dict(values), errors={field: str(exc)})


# --- affiliates ---------------------------------------------------------------------------------

@get("/admin/affiliates", include_in_schema=False, sync_to_thread=True)
def affiliates_list(request: Request[Any, Any, Any], session: DbSession, page_no: PageNo = None,
                    per_page: PerPage = None, sort: Sort = None, order: Order = None) -> Template:
    listing = affiliate_accounts.affiliates_page(session, paging(page_no, per_page, sort, order))
    return page(request, "admin/affiliates.html", listing=listing, form=FormState())


@post("/admin/affiliates", include_in_schema=False, sync_to_thread=True, status_code=201)
def affiliates_create(request: Request[Any, Any, Any], data: FormBody, session: DbSession, principal: Caller
                      ) -> Template:
    values = {"name": text(data, "name"), "email": text(data, "email")}
    listing_request = paging(1, 25, None, None)
    try:
        created = affiliate_accounts.create_affiliate(session, AffiliateCreate(**values), principal)
    except InvalidInput as exc:
        form = FormState.failed(values, exc)
    except Conflict as exc:
        form = _conflict(values, "email", exc)
    else:
        return page(request, "admin/created_key.html", kind="affiliate", name=created.name, entity_id=created.id,
                    api_key=created.api_key, back="/admin/affiliates")
    listing = affiliate_accounts.affiliates_page(session, listing_request)
    return page(request, "admin/affiliates.html", listing=listing, form=form, status_code=422)


@post("/admin/affiliates/{affiliate_id:int}/status", include_in_schema=False, sync_to_thread=True, status_code=303)
def affiliates_status(request: Request[Any, Any, Any], affiliate_id: Annotated[int, PathParameter()], data: FormBody,
                      session: DbSession, principal: Caller) -> Redirect:
    affiliate = affiliate_accounts.set_affiliate_status(session, principal, affiliate_id, text(data, "status"))
    return go(request, "/admin/affiliates", f"{affiliate.name} is now {affiliate.status}.")


# --- advertisers --------------------------------------------------------------------------------

@get("/admin/advertisers", include_in_schema=False, sync_to_thread=True)
def advertisers_list(request: Request[Any, Any, Any], session: DbSession, page_no: PageNo = None,
                     per_page: PerPage = None, sort: Sort = None, order: Order = None) -> Template:
    listing = advertisers.advertisers_page(session, paging(page_no, per_page, sort, order))
    return page(request, "admin/advertisers.html", listing=listing, form=FormState(values={"billing_mode": "prepaid"}))


@post("/admin/advertisers", include_in_schema=False, sync_to_thread=True, status_code=201)
def advertisers_create(request: Request[Any, Any, Any], data: FormBody, session: DbSession, principal: Caller
                       ) -> Template:
    errors: list[FieldError] = []
    values = {"name": text(data, "name"), "email": text(data, "email"), "billing_mode": text(data, "billing_mode"),
              "credit_limit": text(data, "credit_limit"), "currency": text(data, "currency")}
    credit_limit = optional_decimal(data, "credit_limit", errors)
    try:
        if errors:
            raise InvalidInput(errors)
        created = advertisers.create_advertiser(session, AdvertiserCreate(
            name=values["name"], email=values["email"], billing_mode=values["billing_mode"] or "prepaid",
            credit_limit=credit_limit, currency=values["currency"] or None), principal)
    except InvalidInput as exc:
        form = FormState.failed(values, exc)
    except Conflict as exc:
        form = _conflict(values, "email", exc)
    else:
        return page(request, "admin/created_key.html", kind="advertiser", name=created.name, entity_id=created.id,
                    api_key=created.api_key, back="/admin/advertisers")
    listing = advertisers.advertisers_page(session, paging(1, 25, None, None))
    return page(request, "admin/advertisers.html", listing=listing, form=form, status_code=422)


@post("/admin/advertisers/{advertiser_id:int}/status", include_in_schema=False, sync_to_thread=True,
      status_code=303)
def advertisers_status(request: Request[Any, Any, Any], advertiser_id: Annotated[int, PathParameter()],
                       data: FormBody, session: DbSession, principal: Caller) -> Redirect:
    advertiser = advertisers.set_advertiser_status(session, principal, advertiser_id, text(data, "status"))
    return go(request, "/admin/advertisers", f"{advertiser.name} is now {advertiser.status}.")


# --- offers -------------------------------------------------------------------------------------

def _offer_choices(session: DbSession) -> dict[str, Any]:
    return {"vertical_choices": [(v.slug, v.name) for v in verticals.list_verticals(session)],
            "advertiser_choices": [("", "— none (marketplace offer) —")]
            + [(str(a.id), a.name) for a in advertisers.list_advertisers(session)]}


@get("/admin/offers", include_in_schema=False, sync_to_thread=True)
def offers_list(request: Request[Any, Any, Any], session: DbSession, page_no: PageNo = None,
                per_page: PerPage = None, sort: Sort = None, order: Order = None) -> Template:
    listing = offers.offers_page(session, paging(page_no, per_page, sort, order))
    return page(request, "admin/offers.html", listing=listing, verticals_by_id=_verticals_by_id(session),
                form=FormState(values={"kind": "marketplace", "payout_model": "cpl"}), **_offer_choices(session))


def _verticals_by_id(session: DbSession) -> dict[int, str]:
    return {v.id: v.name for v in verticals.list_verticals(session)}


@post("/admin/offers", include_in_schema=False, sync_to_thread=True, status_code=303)
def offers_create(request: Request[Any, Any, Any], data: FormBody, session: DbSession, principal: Caller
                  ) -> Template | Redirect:
    errors: list[FieldError] = []
    names = ("name", "vertical", "kind", "payout_model", "payout", "revenue", "landing_url", "advertiser_id",
             "daily_conversion_cap")
    values = {name: text(data, name) for name in names}
    payout = optional_decimal(data, "payout", errors)
    if payout is None and not any(e.field == "payout" for e in errors):
        errors.append(FieldError("payout", "is required"))
    revenue = optional_decimal(data, "revenue", errors)
    advertiser_id = optional_int(data, "advertiser_id", errors)
    cap = optional_int(data, "daily_conversion_cap", errors)
    try:
        if errors:
            raise InvalidInput(errors)
        assert payout is not None
        offer = offers.create_offer(session, OfferCreate(
            name=values["name"], vertical=values["vertical"], kind=values["kind"], payout_model=values["payout_model"],
            payout=payout, landing_url=values["landing_url"], advertiser_id=advertiser_id, revenue=revenue,
            daily_conversion_cap=cap), principal)
    except InvalidInput as exc:
        listing = offers.offers_page(session, paging(1, 25, None, None))
        return page(request, "admin/offers.html", listing=listing, verticals_by_id=_verticals_by_id(session),
                    form=FormState.failed(values, exc), status_code=422, **_offer_choices(session))
    return go(request, "/admin/offers", f"Offer {offer.name} created (id {offer.id}).")


@post("/admin/offers/{offer_id:int}/status", include_in_schema=False, sync_to_thread=True, status_code=303)
def offers_status(request: Request[Any, Any, Any], offer_id: Annotated[int, PathParameter()], data: FormBody,
                  session: DbSession, principal: Caller) -> Redirect:
    offer = offers.set_offer_status(session, principal, offer_id, text(data, "status"))
    return go(request, "/admin/offers", f"{offer.name} is now {offer.status}.")


# --- verticals ----------------------------------------------------------------------------------

@get("/admin/verticals", include_in_schema=False, sync_to_thread=True)
def verticals_list(request: Request[Any, Any, Any], session: DbSession) -> Template:
    return page(request, "admin/verticals.html", rows=verticals.list_verticals(session), example=FIELDS_EXAMPLE,
                form=FormState(values={"dedupe_window_days": "30", "max_shared_sales": "3", "fields": FIELDS_EXAMPLE}))


@post("/admin/verticals", include_in_schema=False, sync_to_thread=True, status_code=303)
def verticals_create(request: Request[Any, Any, Any], data: FormBody, session: DbSession, principal: Caller
                     ) -> Template | Redirect:
    errors: list[FieldError] = []
    names = ("slug", "name", "fields", "base_price", "dedupe_window_days", "max_shared_sales", "currency")
    values = {name: text(data, name) for name in names}
    base_price = optional_decimal(data, "base_price", errors)
    if base_price is None and not any(e.field == "base_price" for e in errors):
        errors.append(FieldError("base_price", "is required"))
    window = optional_int(data, "dedupe_window_days", errors)
    shared = optional_int(data, "max_shared_sales", errors)
    fields: list[FieldSpec] = []
    try:
        fields = msgspec.json.decode(values["fields"] or "[]", type=list[FieldSpec])
    except msgspec.ValidationError as exc:
        errors.append(FieldError("fields", f"not a list of fields: {exc}"))
    except msgspec.DecodeError:
        errors.append(FieldError("fields", "is not valid JSON"))
    try:
        vertical = verticals.create_vertical(session, VerticalCreate(
            slug=values["slug"], name=values["name"], fields=fields, base_price=base_price or Decimal(0),
            dedupe_window_days=30 if window is None else window, max_shared_sales=3 if shared is None else shared,
            currency=values["currency"] or None), principal, decode_errors=errors)
    except InvalidInput as exc:
        return page(request, "admin/verticals.html", rows=verticals.list_verticals(session), example=FIELDS_EXAMPLE,
                    form=FormState.failed(values, exc), status_code=422)
    except Conflict as exc:
        return page(request, "admin/verticals.html", rows=verticals.list_verticals(session), example=FIELDS_EXAMPLE,
                    form=_conflict(values, "slug", exc), status_code=409)
    return go(request, "/admin/verticals", f"Vertical {vertical.name} created.")


DIRECTORY_ROUTES = [affiliates_list, affiliates_create, affiliates_status, advertisers_list, advertisers_create,
                    advertisers_status, offers_list, offers_create, offers_status, verticals_list, verticals_create]
