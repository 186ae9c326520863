"""Postback settings: the affiliate's postback URL template and the events it is called for, a
"send a test postback" button that calls it and shows what came back, and the recent calls."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from affiliates import postbacks
from affiliates.conversion_schemas import PostbackTemplateSet
from affiliates.cpa_models import POSTBACK_EVENTS
from affiliates.postbacks import TestPostbackResult
from api.deps import Caller, DbSession
from leadmarket.errors import InvalidInput, NotFound
from leadmarket.identity import Principal
from web.forms import FormBody, FormState, many, text
from web.render import fragment, go, page

EVENT_LABELS = {"lead_accepted": "Lead accepted", "lead_sold": "Lead sold", "lead_rejected": "Lead rejected",
                "lead_returned": "Lead returned by its buyer", "conversion_approved": "Conversion approved"}
RECENT = 20


def _postbacks_page(request: Request[Any, Any, Any], session: DbSession, principal: Principal, *,
                    form: FormState | None = None, test: TestPostbackResult | str | None = None,
                    status_code: int = 200) -> Template:
    try:
        saved = postbacks.get_template(session, principal)
    except NotFound:
        saved = None
    if form is None:
        form = FormState(values={"url": saved.url if saved else "",
                                 "events": list(saved.events) if saved else list(POSTBACK_EVENTS)})
    return page(request, "affiliate/postbacks.html", form=form, saved=saved, test=test,
                events=[(e, EVENT_LABELS.get(e, e)) for e in POSTBACK_EVENTS], macros=postbacks.MACROS,
                recent=postbacks.list_postbacks(session, principal, limit=RECENT), status_code=status_code)


@get("/affiliate/postbacks", include_in_schema=False, sync_to_thread=True)
def postback_settings(request: Request[Any, Any, Any], session: DbSession, principal: Caller) -> Template:
    return _postbacks_page(request, session, principal)


@post("/affiliate/postbacks", include_in_schema=False, sync_to_thread=True, status_code=303)
def save_postback(request: Request[Any, Any, Any], data: FormBody, session: DbSession, principal: Caller
                  ) -> Template | Redirect:
    values: dict[str, Any] = {"url": text(data, "url"), "events": many(data, "events")}
    try:
        saved = postbacks.set_template(session, principal, PostbackTemplateSet(url=values["url"],
                                                                               events=values["events"]))
    except InvalidInput as exc:
        return _postbacks_page(request, session, principal, form=FormState.failed(values, exc), status_code=422)
    return go(request, "/affiliate/postbacks", f"Postback URL saved: called for {len(saved.events)} "
              f"event{'s' if len(saved.events) != 1 else ''}. Send a test to check it.")


@post("/affiliate/postbacks/test", include_in_schema=False, sync_to_thread=True, status_code=200)
def test_postback(request: Request[Any, Any, Any], session: DbSession, principal: Caller) -> Template:
    try:
        result: TestPostbackResult | str = postbacks.send_test_postback(session, principal)
    except InvalidInput as exc:
        result = "; ".join(e.reason for e in exc.errors)
    if request.headers.get("hx-request"):
        return fragment("affiliate/_test_postback.html", result=result)
    return _postbacks_page(request, session, principal, test=result)


POSTBACK_ROUTES = [postback_settings, save_postback, test_postback]
