"""An advertiser's dashboard figures: leads bought, spend, returns and refunds over recent days,
the balance, and purchases per day for a chart.

Days are the advertiser user's own calendar days (their time zone) on PostgreSQL; SQLite, the
embedded default, has no time zone database, so there the days are UTC days (`days_in` says which).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing import balances
from billing.schemas import BalanceView
from leadmarket.clock import utcnow
from leadmarket.errors import PermissionDenied
from leadmarket.identity import Principal
from leadmarket.money import from_minor
from marketplace.delivery_models import SaleReturn
from marketplace.models import Advertiser
from marketplace.sale_models import Sale

DEFAULT_DAYS = 30


class DailyPurchases(msgspec.Struct):
    day: date
    leads: int
    spend: Decimal


class AdvertiserDashboard(msgspec.Struct):
    currency: str
    days: int
    days_in: str  # the time zone the days are counted in
    since: datetime
    leads_bought: int
    spend: Decimal  # what the purchases of the period cost, before refunds
    returns: int  # returns filed in the period, pending or approved
    refunded: Decimal  # refunds of approved returns filed in the period
    balance: BalanceView
    daily: list[DailyPurchases]


def advertiser_dashboard(session: Session, principal: Principal, *, days: int = DEFAULT_DAYS,
                         now: datetime | None = None) -> AdvertiserDashboard:
    """The calling advertiser's figures for the last `days` days, today included."""
    if principal.advertiser_id is None:
        raise PermissionDenied("the dashboard is an advertiser's")
    advertiser = session.get_one(Advertiser, principal.advertiser_id)
    currency = advertiser.currency
    postgres = session.get_bind().dialect.name == "postgresql"
    zone_name = principal.time_zone if postgres else "UTC"
    zone = ZoneInfo(zone_name)
    today = (now or utcnow()).astimezone(zone).date()
    first_day = today - timedelta(days=days - 1)
    since = datetime.combine(first_day, time(0), tzinfo=zone)
    local_day = (func.date(func.timezone(zone_name, Sale.created_at)) if postgres else func.date(Sale.created_at))
    mine = [Sale.advertiser_id == advertiser.id, Sale.currency == currency, Sale.created_at >= since]
    rows = session.execute(select(local_day.label("day"), func.count(Sale.id), func.sum(Sale.price_minor))
                           .where(*mine).group_by(local_day)).all()
    by_day = {(r.day if isinstance(r.day, date) else date.fromisoformat(str(r.day))): (r[1], int(r[2] or 0))
              for r in rows}
    daily = [DailyPurchases(day=d, leads=by_day.get(d, (0, 0))[0],
                            spend=from_minor(by_day.get(d, (0, 0))[1], currency))
             for d in (first_day + timedelta(days=i) for i in range(days))]
    returns, refunded_minor = session.execute(
        select(func.count(SaleReturn.id),
               func.coalesce(func.sum(SaleReturn.refund_minor).filter(SaleReturn.status == "approved"), 0))
        .where(SaleReturn.advertiser_id == advertiser.id, SaleReturn.currency == currency,
               SaleReturn.created_at >= since, SaleReturn.status != "rejected")).one()
    return AdvertiserDashboard(
        currency=currency, days=days, days_in=zone_name, since=since,
        leads_bought=sum(d.leads for d in daily), spend=sum((d.spend for d in daily), Decimal(0)),
        returns=int(returns), refunded=from_minor(int(refunded_minor), currency),
        balance=balances.advertiser_balance(session, principal), daily=daily)
