"""The lead store for advertisers, and consent certificates for buyers."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from api.auth import requires_role
from api.deps import Caller, DbSession
from api.errors import problems
from leadmarket.identity import Role
from marketplace import consents, store
from marketplace.consents import ConsentCertificateView
from marketplace.store import StoreBuy, StoreFilters, StorePage, StorePurchase

LeadId = Annotated[int, PathParameter(ge=1, le=2**63 - 1)]


class StoreController(Controller):
    path = "/api/v1/store/leads"
    guards = [requires_role(Role.ADVERTISER)]
    tags = ["advertisers"]

    @get(sync_to_thread=True, responses=problems(400, 401, 403, 422))
    def browse(self, session: DbSession, principal: Caller,
               vertical: Annotated[str | None, QueryParameter(required=False, max_length=64)] = None,
               country: Annotated[str | None, QueryParameter(required=False, max_length=2)] = None,
               region: Annotated[str | None, QueryParameter(required=False, max_length=100)] = None,
               temperature: Annotated[str | None, QueryParameter(required=False, max_length=10)] = None,
               max_age_hours: Annotated[int | None, QueryParameter(required=False, ge=0, le=100_000)] = None,
               min_price: Annotated[str | None, QueryParameter(required=False, max_length=20)] = None,
               max_price: Annotated[str | None, QueryParameter(required=False, max_length=20)] = None,
               sort: Annotated[str, QueryParameter(max_length=20)] = "newest",
               limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
               offset: Annotated[int, QueryParameter(ge=0, le=1_000_000)] = 0) -> StorePage:
        """Unsold leads you may buy, contact data masked, at their list price (shared and
        exclusive); `sort` is newest, oldest, price_asc or price_desc; page with `next_offset`."""
        filters = StoreFilters(vertical=vertical, country=country, region=region, temperature=temperature,
                               max_age_hours=max_age_hours, min_price=min_price, max_price=max_price, sort=sort,
                               limit=limit, offset=offset)
        return store.list_store_leads(session, principal, filters)

    @post("/{lead_id:int}/buy", sync_to_thread=True, responses=problems(400, 401, 403, 404, 409, 413, 422))
    def buy(self, lead_id: LeadId, data: JSONBody[StoreBuy], session: DbSession, principal: Caller) -> StorePurchase:
        """Buy a stored lead, shared or `exclusive`, at its list price, charged to your balance.
        409 when it was sold meanwhile or you cannot pay; the sale shows "sold N of max"."""
        return store.buy_lead(session, principal, lead_id, exclusive=data.exclusive)


class ConsentController(Controller):
    path = "/api/v1/consents"
    guards = [requires_role(Role.ADVERTISER, Role.ADMIN)]
    tags = ["advertisers"]

    @get("/{certificate_id:str}", sync_to_thread=True, responses=problems(400, 401, 403, 404, 422))
    def read(self, certificate_id: Annotated[str, PathParameter(max_length=36)], session: DbSession,
             principal: Caller) -> ConsentCertificateView:
        """A lead's consent record with its SHA-256 over `canonical`, for buyers of the lead."""
        return consents.get_certificate(session, principal, certificate_id)
