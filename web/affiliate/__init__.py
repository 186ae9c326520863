"""The affiliate's portal pages; `ROUTES` is what web/portal.py mounts (all behind the affiliate role guard)."""

from __future__ import annotations

from typing import Any

from web.affiliate.api_access import API_ROUTES
from web.affiliate.dashboard import DASHBOARD_ROUTES
from web.affiliate.leads import LEAD_ROUTES
from web.affiliate.offers import OFFER_ROUTES
from web.affiliate.payouts import PAYOUT_ROUTES
from web.affiliate.postbacks import POSTBACK_ROUTES
from web.affiliate.traffic_costs import TRAFFIC_COST_ROUTES

ROUTES: list[Any] = [*DASHBOARD_ROUTES, *OFFER_ROUTES, *LEAD_ROUTES, *TRAFFIC_COST_ROUTES, *POSTBACK_ROUTES,
                     *PAYOUT_ROUTES, *API_ROUTES]
