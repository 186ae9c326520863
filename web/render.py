"""Rendering portal pages: the Jinja filters every page uses (money, times in the user's zone),
one-shot notices after a redirect, and redirects that also work for HTMX requests."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, unquote

from jinja2 import pass_context
from jinja2.runtime import Context
from litestar import Request, Response
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from leadmarket.accounts import zone
from leadmarket.identity import Principal
from leadmarket.money import MINOR_DIGITS, from_minor, minor_digits
from web.auth import HOME_BY_ROLE, MENUS

NOTICE_COOKIE = "lm_notice"
REFUSED_MARK = "!"


def money(value: Any, currency: str | None = None) -> str:
    """`Decimal("1234.5")`, "USD" -> "1,234.50 USD"; None -> an en dash."""
    if value is None or value == "":
        return "–"
    amount = Decimal(str(value))
    digits = minor_digits(currency) if currency in MINOR_DIGITS else 2
    text = f"{amount:,.{digits}f}" if amount == round(amount, digits) else f"{amount:,}"
    return f"{text} {currency}" if currency else text


def money_minor(value: int | None, currency: str) -> str:
    return money(None if value is None else from_minor(value, currency), currency)


def _zone_of(context: Context) -> str:
    request = context.get("request")
    user = getattr(request, "scope", {}).get("user") if request is not None else None
    return user.time_zone if isinstance(user, Principal) else "UTC"


@pass_context
def when(context: Context, value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An aware UTC time shown in the reader's time zone, with the zone's abbreviation."""
    if value is None:
        return "–"
    local = value.astimezone(zone(_zone_of(context)))
    return f"{local.strftime(fmt)} {local.tzname()}"


@pass_context
def day(context: Context, value: datetime | date | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        value = value.astimezone(zone(_zone_of(context))).date()
    return value.isoformat()


def percent(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{Decimal(str(value)):.{digits}f} %"


def number(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


def configure_templates(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    env.filters.update(money=money, money_minor=money_minor, when=when, day=day, percent=percent, number=number)
    env.globals.update(menus=MENUS, homes=HOME_BY_ROLE)


def page(request: Request[Any, Any, Any], template_name: str, *, status_code: int = 200, **context: Any) -> Template:
    """A full page; shows (and clears) the notice a previous redirect left."""
    raw = request.cookies.get(NOTICE_COOKIE)
    cookies = [Cookie(key=NOTICE_COOKIE, value="", max_age=0, path="/")] if raw else []
    text = unquote(raw) if raw else None
    refused = bool(text and text.startswith(REFUSED_MARK))
    context.setdefault("notice", text[len(REFUSED_MARK):] if refused and text else text)
    context.setdefault("notice_refused", refused)
    return Template(template_name=template_name, context=context, status_code=status_code, cookies=cookies)


def fragment(template_name: str, **context: Any) -> Template:
    """A piece of a page for HTMX to swap in."""
    return Template(template_name=template_name, context=context)


def go(request: Request[Any, Any, Any], path: str, notice: str | None = None, *, refused: bool = False
       ) -> Response[Any]:
    """Redirect after a form (303, so a reload does not post again), leaving a one-shot notice;
    `refused` shows it as a refusal, not a success. An HTMX request gets `HX-Redirect` on a 200
    instead: a 303 would be followed inside the XHR and the page would never change."""
    cookies = [Cookie(key=NOTICE_COOKIE, value=quote(((REFUSED_MARK if refused else "") + notice)[:300]),
                      max_age=60, path="/", httponly=True, secure=True, samesite="lax")] if notice else []
    if request.headers.get("hx-request"):
        return Response(content=b"", status_code=200, headers={"HX-Redirect": path}, cookies=cookies)
    return Redirect(path=path, status_code=303, cookies=cookies)
