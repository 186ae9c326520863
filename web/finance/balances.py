"""Advertisers' balances for finance, and manual credits (a reason is required; the billing
service audits each one)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import PathParameter
from litestar.response import Redirect, Template

from api.deps import Caller, DbSession
from billing import balances
from billing.schemas import CreditCreate
from leadmarket import audit
from leadmarket.errors import Conflict, FieldError, InvalidInput
from web.finance.common import Order, PageNo, PerPage, Sort, paging
from web.forms import FormBody, FormState, optional_decimal, text
from web.render import go, money, page

AdvertiserId = Annotated[int, PathParameter(ge=1, le=2**31 - 1)]
RECENT_CREDITS = 20


@get("/finance/balances", include_in_schema=False, sync_to_thread=True)
def balance_list(request: Request[Any, Any, Any], session: DbSession, page_no: PageNo = None,
                 per_page: PerPage = None, sort: Sort = None, order: Order = None) -> Template:
    listing = balances.advertiser_balances_page(session, paging(page_no, per_page, sort, order or "asc"))
    return page(request, "finance/balances.html", listing=listing)


def _advertiser(request: Request[Any, Any, Any], session: DbSession, advertiser_id: int,
                form: FormState | None = None, status_code: int = 200) -> Template:
    row = balances.advertiser_balance_row(session, advertiser_id)
    credits = [e for e in reversed(audit.events_for(session, "advertiser", advertiser_id))
               if e.action == "advertiser.credit"][:RECENT_CREDITS]
    # A fresh key per form shown: a double-clicked or re-sent form credits once.
    form = form or FormState(values={"idempotency_key": uuid.uuid4().hex})
    return page(request, "finance/balance.html", row=row, credits=credits, form=form, status_code=status_code)


@get("/finance/balances/{advertiser_id:int}", include_in_schema=False, sync_to_thread=True)
def advertiser_balance(request: Request[Any, Any, Any], advertiser_id: AdvertiserId, session: DbSession) -> Template:
    return _advertiser(request, session, advertiser_id)


@post("/finance/balances/{advertiser_id:int}/credits", include_in_schema=False, sync_to_thread=True, status_code=303)
def credit(request: Request[Any, Any, Any], advertiser_id: AdvertiserId, data: FormBody, session: DbSession,
           principal: Caller) -> Template | Redirect:
    errors: list[FieldError] = []
    amount = optional_decimal(data, "amount", errors)
    values = {name: text(data, name) for name in ("amount", "note", "idempotency_key")}
    try:
        if errors:
            raise InvalidInput(errors)
        done = balances.credit_advertiser(session, principal, advertiser_id,
                                          CreditCreate(amount=amount, note=values["note"]),
                                          idempotency_key=values["idempotency_key"] or None)
    except InvalidInput as exc:
        failed = FormState.failed(values, exc)
        if "Idempotency-Key" in failed.errors:  # a tampered hidden field: start the form afresh
            failed.errors["_form"] = "This form expired; please submit it again."
            failed.values["idempotency_key"] = uuid.uuid4().hex
        return _advertiser(request, session, advertiser_id, failed, status_code=422)
    except Conflict as exc:
        return _advertiser(request, session, advertiser_id, FormState(values=values, errors={"_form": str(exc)}), 422)
    return go(request, f"/finance/balances/{advertiser_id}",
              f"Credited {money(done.amount, done.currency)}; the balance is now {money(done.balance, done.currency)}.")


BALANCE_ROUTES = [balance_list, advertiser_balance, credit]
