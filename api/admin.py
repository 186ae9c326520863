"""Admin endpoints that bootstrap a network: verticals, advertisers, affiliates, offers."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import JSONBody

from api.deps import Caller, DbSession

from affiliates import accounts, offers
from affiliates.schemas import AffiliateCreate, AffiliateCreated, AffiliateView, OfferCreate, OfferView
from api.auth import requires_role
from api.errors import problems
from leadmarket.identity import Role
from marketplace import advertisers, verticals
from marketplace.schemas import AdvertiserCreate, AdvertiserCreated, AdvertiserView, VerticalCreate, VerticalView


class VerticalController(Controller):
    path = "/api/v1/verticals"
    guards = [requires_role(Role.ADMIN)]
    tags = ["admin"]

    @post(sync_to_thread=True, responses=problems(400, 401, 403, 409, 413, 422))
    def create(self, data: JSONBody[VerticalCreate], session: DbSession, principal: Caller) -> VerticalView:
        return verticals.vertical_view(verticals.create_vertical(session, data, principal))

    @get(sync_to_thread=True, responses=problems(401, 403))
    def list(self, session: DbSession) -> list[VerticalView]:
        return [verticals.vertical_view(v) for v in verticals.list_verticals(session)]


class AdvertiserController(Controller):
    path = "/api/v1/advertisers"
    guards = [requires_role(Role.ADMIN)]
    tags = ["admin"]

    @post(sync_to_thread=True, responses=problems(400, 401, 403, 409, 413, 422))
    def create(self, data: JSONBody[AdvertiserCreate], session: DbSession, principal: Caller) -> AdvertiserCreated:
        return advertisers.create_advertiser(session, data, principal)

    @get(sync_to_thread=True, responses=problems(401, 403))
    def list(self, session: DbSession) -> list[AdvertiserView]:
        return [advertisers.advertiser_view(a) for a in advertisers.list_advertisers(session)]


class AffiliateController(Controller):
    path = "/api/v1/affiliates"
    guards = [requires_role(Role.ADMIN)]
    tags = ["admin"]

    @post(sync_to_thread=True, responses=problems(400, 401, 403, 409, 413, 422))
    def create(self, data: JSONBody[AffiliateCreate], session: DbSession, principal: Caller) -> AffiliateCreated:
        return accounts.create_affiliate(session, data, principal)

    @get(sync_to_thread=True, responses=problems(401, 403))
    def list(self, session: DbSession) -> list[AffiliateView]:
        return [accounts.affiliate_view(a) for a in accounts.list_affiliates(session)]


class OfferController(Controller):
    path = "/api/v1/offers"
    tags = ["offers"]

    @post(sync_to_thread=True, guards=[requires_role(Role.ADMIN)], responses=problems(400, 401, 403, 413, 422))
    def create(self, data: JSONBody[OfferCreate], session: DbSession, principal: Caller) -> OfferView:
        return offers.offer_view(offers.create_offer(session, data, principal), principal)

    @get(sync_to_thread=True, guards=[requires_role(Role.ADMIN, Role.FINANCE, Role.AFFILIATE)],
         responses=problems(401, 403))
    def list(self, session: DbSession, principal: Caller) -> list[OfferView]:
        return [offers.offer_view(o, principal) for o in offers.offers_visible_to(session, principal)]
