"""Invoice endpoints: advertisers read their own monthly invoices; finance reads all and runs a
month's invoicing by hand (the beat task `billing.issue_monthly_invoices` does it daily)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from api.auth import requires_role
from api.deps import Caller, DbSession
from api.errors import problems
from billing import invoices
from billing.invoice_schemas import InvoicePage, InvoiceRunCreate, InvoiceRunView, InvoiceView
from leadmarket.identity import Role

Id = Annotated[int, PathParameter(ge=1, le=2**31 - 1)]
AdvertiserFilter = Annotated[int | None, QueryParameter(required=False, ge=1, le=2**31 - 1)]
Text = Annotated[str | None, QueryParameter(required=False, max_length=20)]
Limit = Annotated[int, QueryParameter(ge=1, le=invoices.MAX_PAGE)]
Offset = Annotated[int, QueryParameter(ge=0, le=2**31)]


class InvoiceController(Controller):
    path = "/api/v1/invoices"
    guards = [requires_role(Role.ADVERTISER, Role.FINANCE, Role.ADMIN)]
    tags = ["invoices"]

    @get(sync_to_thread=True, responses=problems(401, 403, 422))
    def list_invoices(self, session: DbSession, principal: Caller, advertiser_id: AdvertiserFilter = None,
                      period: Text = None, status: Text = None, limit: Limit = 50, offset: Offset = 0) -> InvoicePage:
        """Monthly invoices, newest month first: an advertiser sees its own; finance and admins see
        every advertiser's (`advertiser_id` narrows to one)."""
        return invoices.list_invoices(session, principal, advertiser_id=advertiser_id, period=period, status=status,
                                      limit=limit, offset=offset)

    @get("/{invoice_id:int}", sync_to_thread=True, responses=problems(401, 403, 404, 422))
    def read(self, invoice_id: Id, session: DbSession, principal: Caller) -> InvoiceView:
        """One invoice with its lines (one per offer); another advertiser's invoice is a 404."""
        return invoices.get_invoice(session, principal, invoice_id)


class FinanceInvoiceController(Controller):
    path = "/api/v1/finance/invoices"
    guards = [requires_role(Role.FINANCE, Role.ADMIN)]
    tags = ["finance"]

    @post("/run", sync_to_thread=True, responses=problems(400, 401, 403, 413, 422, 503))
    def run(self, data: JSONBody[InvoiceRunCreate], session: DbSession, principal: Caller) -> InvoiceRunView:
        """Invoice an ended month (`period`: YYYY-MM, UTC): one Stripe invoice per advertiser billed
        by invoice. Running it again issues nothing new; it finishes what Stripe refused before."""
        return invoices.run_invoices(session, principal, data)


INVOICE_HANDLERS = [InvoiceController, FinanceInvoiceController]
