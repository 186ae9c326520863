"""API keys and the API quick-start: the affiliate's own keys (create — shown once — and revoke)
and copy-paste curl commands against this server, for a real offer of theirs."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect, Template

from affiliates.quickstart import KEY_VARIABLE, quickstart
from api.deps import Caller, DbSession
from leadmarket import api_keys
from leadmarket.api_keys import ApiKeyCreate, LastApiKey
from leadmarket.errors import InvalidInput
from leadmarket.identity import Principal
from web.forms import FormBody, FormState, text
from web.render import go, page

KeyId = Annotated[int, PathParameter(ge=1, le=2**31 - 1)]
OfferChoice = Annotated[int | None, QueryParameter(name="offer_id", required=False, ge=1, le=2**31 - 1)]


def base_url(request: Request[Any, Any, Any]) -> str:
    """This server as the reader reached it (so the commands work from where they are)."""
    return str(request.base_url).rstrip("/")


def _api_page(request: Request[Any, Any, Any], session: DbSession, principal: Principal, *,
              offer_id: int | None = None, key_form: FormState | None = None, key_error: str | None = None,
              status_code: int = 200) -> Template:
    guide = quickstart(session, principal, base_url(request), offer_id=offer_id)
    return page(request, "affiliate/api.html", keys=api_keys.list_keys(session, principal),
                key_form=key_form or FormState(), key_error=key_error, guide=guide, key_variable=KEY_VARIABLE,
                offer_form=FormState(values={"offer_id": str(guide.offer.id) if guide.offer else ""}),
                offer_choices=[(str(o.id), f"#{o.id} {o.name}") for o in guide.offers],
                status_code=status_code)


@get("/affiliate/api", include_in_schema=False, sync_to_thread=True)
def api_page(request: Request[Any, Any, Any], session: DbSession, principal: Caller, offer_id: OfferChoice = None
             ) -> Template:
    return _api_page(request, session, principal, offer_id=offer_id)


@post("/affiliate/api/keys", include_in_schema=False, sync_to_thread=True, status_code=201)
def create_key(request: Request[Any, Any, Any], data: FormBody, session: DbSession, principal: Caller) -> Template:
    values = {"name": text(data, "name")}
    try:
        issued = api_keys.create_key(session, principal, ApiKeyCreate(name=values["name"]))
    except InvalidInput as exc:
        return _api_page(request, session, principal, key_form=FormState.failed(values, exc), status_code=422)
    guide = quickstart(session, principal, base_url(request), api_key=issued.api_key)
    shown_once = page(request, "affiliate/created_key.html", key=issued, guide=guide, status_code=201)
    shown_once.headers["Cache-Control"] = "no-store"  # the raw key must not sit in a cache
    return shown_once


@post("/affiliate/api/keys/{key_id:int}/revoke", include_in_schema=False, sync_to_thread=True, status_code=303)
def revoke_key(request: Request[Any, Any, Any], key_id: KeyId, session: DbSession, principal: Caller
               ) -> Template | Redirect:
    try:
        revoked = api_keys.revoke_key(session, principal, key_id)  # another affiliate's key: a 404 page
    except LastApiKey as exc:
        return _api_page(request, session, principal, key_error=str(exc), status_code=409)
    return go(request, "/affiliate/api", f"Key {revoked.display_prefix}… revoked: it stops working within seconds.")


API_ROUTES = [api_page, create_key, revoke_key]
