"""Who may call what: one table of endpoint x role, checked against every route of the app by
tests/test_authz_matrix.py. A route that is not in the table fails that test: add its row here.

`allowed` names the roles that get past authorization; every other role is refused (401 when no
key is sent, 403 for a key of another role). "public" means anyone, with or without a key (the
route has its own credential or none); "any key" means every role but anonymous.

The portal's HTML pages (cookie sessions, their own tests) are outside this table: PORTAL_PREFIXES.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ANONYMOUS, ADMIN, FINANCE, ADVERTISER, AFFILIATE = "anonymous", "admin", "finance", "advertiser", "affiliate"
ROLES = (ANONYMOUS, ADMIN, FINANCE, ADVERTISER, AFFILIATE)
TENANTS = (ADVERTISER, AFFILIATE)

# method  path (as the app names it)                     allowed
_TABLE = """
GET     /                                                 public
GET     /healthz                                          public
GET     /r/{code}                                         public
GET     /f/{code}                                         public
POST    /f/{code}                                         public
GET     /f/{code}/thanks                                  public
GET     /postback                                         public
POST    /postback                                         public
POST    /webhooks/stripe                                  public
GET     /schema                                           public
GET     /schema/{path}                                    public
GET     /schema/elements                                  public
GET     /schema/oauth2-redirect.html                      public
GET     /schema/openapi.json                              public
GET     /schema/openapi.yaml                              public
GET     /schema/openapi.yml                               public
GET     /schema/rapidoc                                   public
GET     /schema/redoc                                     public
GET     /schema/swagger                                   public

GET     /api/v1/verticals                                 admin
POST    /api/v1/verticals                                 admin
GET     /api/v1/verticals/{vertical_id}/screening         admin
PATCH   /api/v1/verticals/{vertical_id}/screening         admin
GET     /api/v1/advertisers                               admin
POST    /api/v1/advertisers                               admin
POST    /api/v1/advertisers/{advertiser_id}/credits       admin, finance
GET     /api/v1/affiliates                                admin
POST    /api/v1/affiliates                                admin
PUT     /api/v1/affiliates/{affiliate_id}/stripe-account  admin
GET     /api/v1/offers                                    admin, finance, affiliate
POST    /api/v1/offers                                    admin
GET     /api/v1/offers/{offer_id}/screening               admin
PATCH   /api/v1/offers/{offer_id}/screening               admin
GET     /api/v1/blocklist                                 admin
POST    /api/v1/blocklist                                 admin
DELETE  /api/v1/blocklist/{entry_id}                      admin
GET     /api/v1/review/leads                              admin
POST    /api/v1/review/leads/{lead_id}/approve            admin
POST    /api/v1/review/leads/{lead_id}/reject             admin
GET     /api/v1/fraud/anomalies                           admin
POST    /api/v1/leads/{lead_id}/erase                     admin
GET     /api/v1/ping-buyers                               admin
POST    /api/v1/ping-buyers                               admin
GET     /api/v1/ping-buyers/health                        admin
POST    /api/v1/calls                                     admin
POST    /api/v1/returns/{return_id}/approve               admin
POST    /api/v1/returns/{return_id}/reject                admin
PUT     /api/v1/returns/rules/{advertiser_id}             admin
POST    /api/v1/admin/payouts/{payout_id}/clear-hold      admin
POST    /api/v1/admin/payouts/{payout_id}/forfeit         admin

GET     /api/v1/api-keys                                  any key
POST    /api/v1/api-keys                                  any key
POST    /api/v1/api-keys/rotate                           any key
POST    /api/v1/api-keys/{key_id}/revoke                  any key

GET     /api/v1/finance/trial-balance                     admin, finance
GET     /api/v1/finance/settlement                        admin, finance
POST    /api/v1/finance/invoices/run                      admin, finance
POST    /api/v1/finance/payouts/run                       admin, finance
GET     /api/v1/finance/payouts                           admin, finance
GET     /api/v1/finance/payouts/export.csv                admin, finance
GET     /api/v1/finance/payouts/{payout_id}               admin, finance
POST    /api/v1/finance/payouts/{payout_id}/approve       admin, finance
POST    /api/v1/finance/payouts/{payout_id}/hold          admin, finance
POST    /api/v1/finance/payouts/{payout_id}/reject        admin, finance
POST    /api/v1/finance/payouts/{payout_id}/pay           admin, finance

POST    /api/v1/leads                                     affiliate
GET     /api/v1/leads/{lead_id}                           admin, finance, affiliate
POST    /api/v1/ping                                      affiliate
POST    /api/v1/post                                      affiliate
GET     /api/v1/pings                                     any key
GET     /api/v1/stats                                     admin, finance, affiliate
GET     /api/v1/payouts                                   affiliate
GET     /api/v1/tracking-links                            admin, finance, affiliate
POST    /api/v1/tracking-links                            affiliate
POST    /api/v1/tracking-links/{code}/status              admin, affiliate
GET     /api/v1/tracking-numbers                          admin, finance, affiliate
POST    /api/v1/tracking-numbers                          admin, affiliate
GET     /api/v1/traffic-costs                             admin, finance, affiliate
POST    /api/v1/traffic-costs                             affiliate
GET     /api/v1/postbacks                                 affiliate
GET     /api/v1/postbacks/template                        affiliate
PUT     /api/v1/postbacks/template                        affiliate
GET     /api/v1/returns/report                            admin, finance, affiliate

GET     /api/v1/orders                                    advertiser
POST    /api/v1/orders                                    advertiser
GET     /api/v1/orders/{order_id}                         advertiser
PATCH   /api/v1/orders/{order_id}                         advertiser
GET     /api/v1/purchases                                 advertiser
GET     /api/v1/purchases/{sale_id}                       advertiser
POST    /api/v1/purchases/{sale_id}/return                advertiser
GET     /api/v1/store/leads                               advertiser
POST    /api/v1/store/leads/{lead_id}/buy                 advertiser
GET     /api/v1/consents/{certificate_id}                 admin, advertiser
GET     /api/v1/balance                                   advertiser
POST    /api/v1/topups                                    advertiser
GET     /api/v1/topups/{topup_id}                         admin, finance, advertiser
GET     /api/v1/invoices                                  admin, finance, advertiser
GET     /api/v1/invoices/{invoice_id}                     admin, finance, advertiser
GET     /api/v1/returns/rules/{advertiser_id}             admin, finance, advertiser
POST    /api/v1/conversions                               advertiser
GET     /api/v1/conversions                               any key
POST    /api/v1/conversions/{conversion_id}/approve       advertiser
POST    /api/v1/conversions/{conversion_id}/reject        advertiser
POST    /api/v1/postback-token                            advertiser
"""

# The portal: HTML pages behind a cookie session, tested by the portal's own tests.
PORTAL_PREFIXES = ("/login", "/logout", "/account", "/portal", "/jobs", "/static", "/admin", "/advertiser",
                   "/affiliate", "/finance")


def _parse(table: str) -> dict[tuple[str, str], frozenset[str]]:
    rows: dict[tuple[str, str], frozenset[str]] = {}
    for line in table.strip().splitlines():
        if not line.strip():
            continue
        method, path, allowed = line.split(None, 2)
        if allowed == "public":
            roles = frozenset(ROLES)
        elif allowed == "any key":
            roles = frozenset(ROLES) - {ANONYMOUS}
        else:
            roles = frozenset(role.strip() for role in allowed.split(","))
        assert roles <= set(ROLES), line
        assert (method, path) not in rows, f"twice in the table: {method} {path}"
        rows[(method, path)] = roles
    return rows


MATRIX: dict[tuple[str, str], frozenset[str]] = _parse(_TABLE)


def is_portal(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in PORTAL_PREFIXES)


# Tenant isolation. Every route with an id in its path that an advertiser or an affiliate may
# call names here whose id it takes (a kind of resource the test builds for a second tenant) and a
# body that passes validation, so the answer is about the id. Called with the other tenant's id it
# must answer 404: never the resource, never a 403 that confirms it exists.
OWNED: dict[tuple[str, str], tuple[str, Any]] = {
    ("GET", "/api/v1/leads/{lead_id}"): ("lead", None),
    ("POST", "/api/v1/tracking-links/{code}/status"): ("tracking_link", {"status": "paused"}),
    ("POST", "/api/v1/api-keys/{key_id}/revoke"): ("api_key", None),
    ("GET", "/api/v1/orders/{order_id}"): ("order", None),
    ("PATCH", "/api/v1/orders/{order_id}"): ("order", {"price": "21.00"}),
    ("GET", "/api/v1/purchases/{sale_id}"): ("sale", None),
    ("POST", "/api/v1/purchases/{sale_id}/return"): ("sale", {"reason": "bad_phone"}),
    ("GET", "/api/v1/consents/{certificate_id}"): ("consent", None),
    ("GET", "/api/v1/topups/{topup_id}"): ("topup", None),
    ("GET", "/api/v1/invoices/{invoice_id}"): ("invoice", None),
    ("GET", "/api/v1/returns/rules/{advertiser_id}"): ("advertiser", None),
    ("POST", "/api/v1/conversions/{conversion_id}/approve"): ("conversion", None),
    ("POST", "/api/v1/conversions/{conversion_id}/reject"): ("conversion", None),
}
# Tenant routes whose id belongs to no tenant, and why.
SHARED: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/store/leads/{lead_id}/buy"):
        "the lead store is one market: any advertiser may buy any stored lead (a sold one is a 409)",
}


def collection_app() -> Any:
    """The app as it is built, to enumerate its routes (and serve its OpenAPI document) while
    pytest collects: an in-memory SQLite engine it never uses. The process settings are left as
    they were; the conftest's `settings` fixture configures the real ones for the tests."""
    from sqlalchemy import create_engine

    import leadmarket.settings as settings_module
    from api.app import create_app
    from leadmarket.settings import Settings

    previous = settings_module._current
    try:
        return create_app(Settings(database_url="sqlite://"), engine=create_engine("sqlite://"))
    finally:
        settings_module._current = previous


@contextmanager
def module_client(settings: Any, engine: Any, stripe_base: str) -> Iterator[Any]:
    """A TestClient on the real app for a whole test module (API-wide tests make hundreds of calls;
    a fresh database per call would cost more than the calls), with Stripe configured against
    localstripe so top-ups and the webhook answer as in production. Afterwards every row is
    removed, as the `db` fixture does, and the process settings are restored."""
    import dataclasses

    from litestar.testing import TestClient
    from sqlalchemy import text

    from api.app import create_app
    from api.auth import ApiKeyAuthentication
    from leadmarket.registry import metadata
    from leadmarket.settings import configure

    ApiKeyAuthentication._cache.clear()
    configured = dataclasses.replace(settings, stripe_api_key="sk_test_local", stripe_api_base=stripe_base,
                                     stripe_webhook_secret="whsec_api_wide_tests")
    try:
        with TestClient(create_app(configured, engine=engine), raise_server_exceptions=False) as client:
            yield client
    finally:
        configure(settings)
        ApiKeyAuthentication._cache.clear()
        tables = ", ".join(f'"{t.name}"' for t in metadata().sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
