"""Advertisers' orders: place, list, read and change their own."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, patch, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from api.auth import requires_role
from api.deps import Caller, DbSession
from api.errors import problems
from leadmarket.identity import Role
from marketplace import orders
from marketplace.order_schemas import OrderCreate, OrderUpdate, OrderView

OrderId = Annotated[int, PathParameter(ge=1, le=2**31 - 1)]


class OrderController(Controller):
    path = "/api/v1/orders"
    guards = [requires_role(Role.ADVERTISER)]
    tags = ["advertisers"]

    @post(sync_to_thread=True, responses=problems(400, 401, 403, 413, 422))
    def create(self, data: JSONBody[OrderCreate], session: DbSession, principal: Caller) -> OrderView:
        """Place a standing order for leads of one vertical: filters, price, exclusive or shared,
        caps and budgets, schedule (in `time_zone`) and the webhook deliveries go to."""
        return orders.create_order(session, principal, data)

    @get(sync_to_thread=True, responses=problems(400, 401, 403, 422))
    def list(self, session: DbSession, principal: Caller,
             status: Annotated[str | None, QueryParameter(required=False)] = None,
             limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
             offset: Annotated[int, QueryParameter(ge=0, le=2**31)] = 0) -> list[OrderView]:
        """Your orders, oldest first."""
        return orders.list_orders(session, principal, status=status, limit=limit, offset=offset)

    @get("/{order_id:int}", sync_to_thread=True, responses=problems(400, 401, 403, 404, 422))
    def read(self, order_id: OrderId, session: DbSession, principal: Caller) -> OrderView:
        return orders.get_order(session, principal, order_id)

    @patch("/{order_id:int}", sync_to_thread=True, responses=problems(400, 401, 403, 404, 413, 422))
    def update(self, order_id: OrderId, data: JSONBody[OrderUpdate], session: DbSession,
               principal: Caller) -> OrderView:
        """Change an order: the sections you send replace theirs whole, the rest stays."""
        return orders.update_order(session, principal, order_id, data)
