"""The hosted lead form pages: `/f/{code}` (shows the form, records the click, takes the post)."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from litestar import Request, Response, get, post
from litestar.enums import MediaType, RequestEncodingType
from litestar.params import Body, PathParameter
from litestar.response import Redirect, Template

from affiliates import forms, redirect
from affiliates.tracking import plausible_code
from api.deps import DbSession
from api.tracking import NOT_FOUND_PAGE

Code = Annotated[str, PathParameter(max_length=64)]


def _not_found() -> Response[bytes]:
    return Response(NOT_FOUND_PAGE, status_code=404, media_type=MediaType.HTML)


@get("/f/{code:str}", include_in_schema=False)
async def show_form(request: Request[Any, Any, Any], code: Code) -> Template | Response[bytes]:
    state = request.app.state
    client = request.scope.get("client")
    visit = redirect.Visit.from_asgi(request.query_params, request.scope["headers"], client[0] if client else None)
    if not plausible_code(code):
        return _not_found()
    target = await redirect.resolve(state.settings, state.sessions, code)
    if target is None or not target.active:
        return _not_found()
    click_id, _ = await redirect.record_click(state.settings, state.sessions, target, visit)

    def build() -> forms.LeadForm | None:
        with state.sessions() as session:
            return forms.build_form(session, code, click_id,
                                    values={"contact.country": visit.country} if visit.country else None)

    form = await anyio.to_thread.run_sync(build)
    if form is None:
        return _not_found()
    return Template(template_name="lead_form.html", context={"form": form}, headers={"cache-control": "no-store"})


@post("/f/{code:str}", include_in_schema=False, sync_to_thread=True, status_code=303)
def send_form(request: Request[Any, Any, Any], code: Code, session: DbSession,
              data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
              ) -> Redirect | Template | Response[bytes]:
    if not plausible_code(code):
        return _not_found()
    client = request.scope.get("client")
    form = forms.submit_form(session, code, data, ip=forms.peer_ip(client[0] if client else None),
                             user_agent=request.headers.get("user-agent"), page_url=str(request.url))
    if form is None:
        return Redirect(f"/f/{code}/thanks", status_code=303)
    return Template(template_name="lead_form.html", context={"form": form}, status_code=422)


@get("/f/{code:str}/thanks", include_in_schema=False, sync_to_thread=False)
def form_thanks(code: Code) -> Template:
    return Template(template_name="lead_form_thanks.html")
