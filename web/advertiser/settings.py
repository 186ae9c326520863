"""API keys and webhooks: the advertiser's own keys (create — shown once — and revoke), each
order's delivery webhook and signing secret, and a "send a test delivery" button."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import PathParameter
from litestar.response import Redirect, Template

from api.deps import Caller, DbSession
from leadmarket import api_keys
from leadmarket.api_keys import ApiKeyCreate, LastApiKey
from leadmarket.errors import InvalidInput
from leadmarket.paging import PageRequest
from marketplace import delivery, orders
from marketplace.delivery import TestDeliveryResult
from marketplace.order_schemas import OrderDelivery, OrderUpdate
from web.forms import FormBody, FormState, text
from web.render import fragment, go, page

Id = Annotated[int, PathParameter(ge=1, le=2**31 - 1)]


def _settings_page(request: Request[Any, Any, Any], session: DbSession, principal: Caller, *,
                   key_form: FormState | None = None, webhook_forms: dict[int, FormState] | None = None,
                   tests: dict[int, TestDeliveryResult | str] | None = None, key_error: str | None = None,
                   status_code: int = 200) -> Template:
    order_page = orders.orders_page(session, principal, PageRequest(per_page=100, sort="id", descending=False))
    forms = {o.id: FormState(values={"delivery.webhook_url": o.delivery.webhook_url or ""}) for o in order_page.items}
    forms.update(webhook_forms or {})
    return page(request, "advertiser/settings.html", keys=api_keys.list_keys(session, principal),
                key_form=key_form or FormState(), key_error=key_error, orders=order_page, webhook_forms=forms,
                tests=tests or {}, status_code=status_code)


@get("/advertiser/settings", include_in_schema=False, sync_to_thread=True)
def settings_page(request: Request[Any, Any, Any], session: DbSession, principal: Caller) -> Template:
    return _settings_page(request, session, principal)


@post("/advertiser/settings/api-keys", include_in_schema=False, sync_to_thread=True, status_code=201)
def create_key(request: Request[Any, Any, Any], data: FormBody, session: DbSession, principal: Caller) -> Template:
    values = {"name": text(data, "name")}
    try:
        issued = api_keys.create_key(session, principal, ApiKeyCreate(name=values["name"]))
    except InvalidInput as exc:
        return _settings_page(request, session, principal, key_form=FormState.failed(values, exc), status_code=422)
    shown_once = page(request, "advertiser/created_key.html", key=issued, status_code=201)
    shown_once.headers["Cache-Control"] = "no-store"  # the raw key must not sit in a cache
    return shown_once


@post("/advertiser/settings/api-keys/{key_id:int}/revoke", include_in_schema=False, sync_to_thread=True,
      status_code=303)
def revoke_key(request: Request[Any, Any, Any], key_id: Id, session: DbSession, principal: Caller
               ) -> Template | Redirect:
    try:
        revoked = api_keys.revoke_key(session, principal, key_id)  # another company's key: a 404 page
    except LastApiKey as exc:
        return _settings_page(request, session, principal, key_error=str(exc), status_code=409)
    return go(request, "/advertiser/settings", f"Key {revoked.display_prefix}… revoked: it stops working within seconds.")


@post("/advertiser/settings/webhooks/{order_id:int}", include_in_schema=False, sync_to_thread=True, status_code=303)
def save_webhook(request: Request[Any, Any, Any], order_id: Id, data: FormBody, session: DbSession,
                 principal: Caller) -> Template | Redirect:
    url, secret = text(data, "delivery.webhook_url"), text(data, "delivery.secret")
    current = orders.get_order(session, principal, order_id)
    if url and not secret and url == current.delivery.webhook_url:
        return go(request, "/advertiser/settings", "Nothing changed.")
    section = OrderDelivery(webhook_url=url or None, secret=secret or None) if url or secret else None
    try:
        updated = orders.update_order(session, principal, order_id, OrderUpdate(delivery=section))
    except InvalidInput as exc:
        form = FormState.failed({"delivery.webhook_url": url}, exc)
        return _settings_page(request, session, principal, webhook_forms={order_id: form}, status_code=422)
    if updated.delivery.webhook_url:
        return go(request, "/advertiser/settings", f"Webhook of “{updated.name}” saved: its leads go to "
                  f"{updated.delivery.webhook_url}.")
    return go(request, "/advertiser/settings", f"Webhook of “{updated.name}” removed: pull its leads by API.")


@post("/advertiser/settings/webhooks/{order_id:int}/test", include_in_schema=False, sync_to_thread=True,
      status_code=200)
def test_delivery(request: Request[Any, Any, Any], order_id: Id, session: DbSession, principal: Caller
                  ) -> Template:
    try:
        result: TestDeliveryResult | str = delivery.send_test_delivery(session, principal, order_id)
    except InvalidInput as exc:
        result = "; ".join(e.reason for e in exc.errors)
    if request.headers.get("hx-request"):
        return fragment("advertiser/_test_delivery.html", result=result, order_id=order_id)
    return _settings_page(request, session, principal, tests={order_id: result})


SETTINGS_ROUTES = [settings_page, create_key, revoke_key, save_webhook, test_delivery]
