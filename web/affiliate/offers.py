"""Offers and tracking links: the offers the affiliate may promote, a builder making a tracking
link with sub1..sub5, the affiliate's links (paged), one link's page with its URL to copy, pause
and resume."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template

from affiliates import offers, tracking
from affiliates.tracking_models import SUB_COLUMNS
from affiliates.tracking_schemas import TrackingLinkCreate
from api.deps import Caller, DbSession
from leadmarket.errors import InvalidInput
from leadmarket.identity import Principal
from leadmarket.paging import PageRequest
from web.affiliate.common import Order, PageNo, PerPage, Sort, paging
from web.forms import FormBody, FormState, text
from web.render import go, page

Code = Annotated[str, PathParameter(max_length=32)]
OfferChoice = Annotated[int | None, QueryParameter(name="offer_id", required=False, ge=1, le=2**31 - 1)]
SUB_FIELDS = [f"sub_ids.{key}" for key in SUB_COLUMNS]


def _offer_choices(session: DbSession, principal: Principal) -> list[tuple[str, str]]:
    return [("", "Choose an offer")] + [(str(o.id), f"#{o.id} {o.name}")
                                        for o in offers.offers_visible_to(session, principal)]


def _offers_page(request: Request[Any, Any, Any], session: DbSession, principal: Principal, listing_request: PageRequest,
                 *, form: FormState, status_code: int = 200) -> Template:
    listing = offers.promotable_offers_page(session, principal, listing_request)
    return page(request, "affiliate/offers.html", listing=listing, form=form,
                offer_choices=_offer_choices(session, principal), sub_fields=SUB_FIELDS, status_code=status_code)


@get("/affiliate/offers", include_in_schema=False, sync_to_thread=True)
def offers_list(request: Request[Any, Any, Any], session: DbSession, principal: Caller, offer_id: OfferChoice = None,
                page_no: PageNo = None, per_page: PerPage = None, sort: Sort = None, order: Order = None) -> Template:
    form = FormState(values={"offer_id": str(offer_id or "")})
    return _offers_page(request, session, principal, paging(page_no, per_page, sort, order), form=form)


@post("/affiliate/offers/links", include_in_schema=False, sync_to_thread=True, status_code=303)
def build_link(request: Request[Any, Any, Any], data: FormBody, session: DbSession, principal: Caller
               ) -> Template | Redirect:
    values = {name: text(data, name) for name in ("offer_id", *SUB_FIELDS)}
    raw_offer = values["offer_id"]
    offer_id = int(raw_offer) if raw_offer.isdigit() and len(raw_offer) < 11 else None
    sub_ids = {key: values[f"sub_ids.{key}"] for key in SUB_COLUMNS if values[f"sub_ids.{key}"]}
    try:
        if raw_offer and offer_id is None:
            raise InvalidInput.one("offer_id", "choose an offer from the list")
        link = tracking.create_link(session, principal, TrackingLinkCreate(offer_id=offer_id, sub_ids=sub_ids))
    except InvalidInput as exc:
        return _offers_page(request, session, principal, paging(None, None, None, None),
                            form=FormState.failed(values, exc), status_code=422)
    return go(request, f"/affiliate/offers/links/{link.code}", "Tracking link created: copy it into your campaign.")


@get("/affiliate/offers/links", include_in_schema=False, sync_to_thread=True)
def links_list(request: Request[Any, Any, Any], session: DbSession, principal: Caller, page_no: PageNo = None,
               per_page: PerPage = None, sort: Sort = None, order: Order = None) -> Template:
    listing = tracking.links_page(session, principal, paging(page_no, per_page, sort, order))
    names = {o.id: o.name for o in offers.offers_visible_to(session, principal)}
    return page(request, "affiliate/links.html", listing=listing, offer_names=names)


@get("/affiliate/offers/links/{code:str}", include_in_schema=False, sync_to_thread=True)
def link_detail(request: Request[Any, Any, Any], code: Code, session: DbSession, principal: Caller) -> Template:
    link = tracking.get_link(session, principal, code)  # another affiliate's link: a 404 page
    names = {o.id: o.name for o in offers.offers_visible_to(session, principal)}
    return page(request, "affiliate/link.html", link=link, offer_name=names.get(link.offer_id, f"offer {link.offer_id}"))


@post("/affiliate/offers/links/{code:str}/status", include_in_schema=False, sync_to_thread=True, status_code=303)
def set_link_status(request: Request[Any, Any, Any], code: Code, data: FormBody, session: DbSession,
                    principal: Caller) -> Redirect:
    status = text(data, "status")
    try:
        link = tracking.set_link_status(session, principal, code, status)
    except InvalidInput as exc:
        return go(request, f"/affiliate/offers/links/{code}", "; ".join(e.reason for e in exc.errors), refused=True)
    words = "paused: its clicks now get a 404" if link.status == "paused" else "active again"
    return go(request, f"/affiliate/offers/links/{code}", f"Link {link.code} {words}.")


OFFER_ROUTES = [offers_list, build_link, links_list, link_detail, set_link_status]
