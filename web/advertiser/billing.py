"""Billing: the balance, a Stripe top-up (the PaymentIntent's client secret and the next step),
monthly invoices, the top-ups made, and every movement of the advertiser's cash (paged)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import QueryParameter
from litestar.response import Template

from api.deps import Caller, DbSession
from billing import balances, invoices, topups
from billing.schemas import TopupCreate
from leadmarket.errors import FieldError, InvalidInput, ServiceUnavailable
from leadmarket.paging import PageRequest
from web.advertiser.common import Order, PageNo, PerPage, Sort, paging
from web.forms import FormBody, FormState, optional_decimal, text
from web.render import page

INVOICES_PER_PAGE = 12
InvoiceOffset = Annotated[int, QueryParameter(name="invoices_from", ge=0, le=2**31)]


def _billing_page(request: Request[Any, Any, Any], session: DbSession, principal: Caller, request_page: PageRequest,
                  *, invoice_offset: int = 0, form: FormState | None = None, status_code: int = 200) -> Template:
    return page(request, "advertiser/billing.html", balance=balances.advertiser_balance(session, principal),
                entries=balances.advertiser_transactions(session, principal, request_page),
                invoices=invoices.list_invoices(session, principal, limit=INVOICES_PER_PAGE, offset=invoice_offset),
                invoice_offset=invoice_offset, invoices_per_page=INVOICES_PER_PAGE,
                topups=topups.topups_page(session, principal, PageRequest(per_page=5)),
                form=form or FormState(values={"idempotency_key": uuid.uuid4().hex}), status_code=status_code)


@get("/advertiser/billing", include_in_schema=False, sync_to_thread=True)
def billing_page(request: Request[Any, Any, Any], session: DbSession, principal: Caller, page_no: PageNo = None,
                 per_page: PerPage = None, sort: Sort = None, order: Order = None, invoices_from: InvoiceOffset = 0
                 ) -> Template:
    return _billing_page(request, session, principal, paging(page_no, per_page, sort, order),
                         invoice_offset=invoices_from)


@post("/advertiser/billing/topups", include_in_schema=False, sync_to_thread=True, status_code=201)
def start_topup(request: Request[Any, Any, Any], data: FormBody, session: DbSession, principal: Caller) -> Template:
    errors: list[FieldError] = []
    # The key was made with the form, so a double click or a resent form starts one top-up, not two.
    values = {"amount": text(data, "amount"), "idempotency_key": text(data, "idempotency_key") or uuid.uuid4().hex}
    amount = optional_decimal(data, "amount", errors)
    try:
        if errors:
            raise InvalidInput(errors)
        started = topups.create_topup(session, principal, TopupCreate(amount=amount),
                                      idempotency_key=values["idempotency_key"])
    except InvalidInput as exc:
        return _billing_page(request, session, principal, PageRequest(), form=FormState.failed(values, exc),
                             status_code=422)
    except ServiceUnavailable as exc:
        return _billing_page(request, session, principal, PageRequest(),
                             form=FormState(values=values, errors={"amount": f"Top-ups are unavailable: {exc}."}),
                             status_code=503)
    return page(request, "advertiser/topup.html", topup=started, status_code=201)


BILLING_ROUTES = [billing_page, start_topup]
