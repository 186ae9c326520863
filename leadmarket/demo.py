"""`leadmarket demo`: migrate the embedded database, seed a believable network once, print keys, serve.

Everything is seeded through the services the API uses (verticals, advertisers and the opening
balances finance credits to the prepaid ones, affiliates, offers, the advertisers' orders, lead
intake), so a demo lead takes the same path as a posted one: it is sold to matching orders, kept
for the lead store, or rejected. The people come from `demo_people` with a seeded `random.Random`,
so every fresh demo holds the same network (one order keeps office hours, so the share of leads
sold can move a little with the time of day).
"""

from __future__ import annotations

import json
import secrets
import os
import random
from decimal import Decimal
from typing import Any

import click
import msgspec
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from affiliates.accounts import create_affiliate, list_affiliates
from affiliates.offers import create_offer
from affiliates.schemas import AffiliateCreate, OfferCreate
from billing.balances import advertiser_balance, credit_advertiser
from billing.schemas import CreditCreate
from leadmarket import demo_people as people
from leadmarket.clock import utcnow
from leadmarket.db import session_scope, transaction
from leadmarket import accounts
from leadmarket.identity import Principal, Role, create_api_key
from leadmarket.migrate import upgrade
from leadmarket.money import from_minor
from leadmarket.settings import Settings, configure
from marketplace.advertisers import create_advertiser, list_advertisers
from marketplace.intake import submit_lead
from marketplace.models import Lead
from marketplace.order_models import Order
from marketplace.order_schemas import OrderCreate
from marketplace.orders import create_order
from marketplace.sale_models import Sale
from marketplace.schemas import AdvertiserCreate, FieldSpec, LeadSubmission, VerticalCreate
from marketplace.verticals import create_vertical, list_verticals

SEED = 20261124
DUPLICATE_SHARE = 0.06  # people who fill the same form twice, or on two sites
PSEUDO_SHARE = 0.04  # jokers and hurried bots: what the fraud screen rejects or holds for review
LEAD_STATUS_ORDER = ("sold", "accepted", "review", "rejected")

VERTICALS: list[dict[str, Any]] = [
    {"slug": "car-insurance", "name": "Car insurance", "base_price": "18.00", "dedupe_window_days": 30,
     "max_shared_sales": 3, "fields": [
         {"name": "vehicle_year", "type": "integer", "required": True, "min": 1980, "max": 2027},
         {"name": "vehicle_make", "type": "string", "max": 40},
         {"name": "coverage", "type": "choice", "required": True, "choices": ["liability", "comprehensive", "full"]},
         {"name": "annual_mileage", "type": "integer", "min": 0, "max": 200000},
         {"name": "drivers", "type": "integer", "min": 1, "max": 6},
         {"name": "homeowner", "type": "boolean"},
         {"name": "current_insurer", "type": "string", "max": 60}]},
    {"slug": "personal-loans", "name": "Personal loans", "base_price": "25.00", "dedupe_window_days": 60,
     "max_shared_sales": 4, "fields": [
         {"name": "loan_amount", "type": "integer", "required": True, "min": 500, "max": 100000},
         {"name": "term_months", "type": "integer", "required": True, "min": 6, "max": 84},
         {"name": "purpose", "type": "choice", "required": True, "choices": [
             "debt_consolidation", "home_improvement", "car", "medical", "wedding", "other"]},
         {"name": "employment_status", "type": "choice", "required": True, "choices": [
             "employed", "self_employed", "retired", "student", "unemployed"]},
         {"name": "monthly_income", "type": "integer", "required": True, "min": 0, "max": 100000},
         {"name": "credit_score_band", "type": "choice", "choices": ["excellent", "good", "fair", "poor"]}]},
    {"slug": "travel", "name": "Travel", "base_price": "6.00", "dedupe_window_days": 14, "max_shared_sales": 2,
     "fields": [
         {"name": "destination", "type": "string", "required": True, "min": 2, "max": 100},
         {"name": "departure_date", "type": "date", "required": True},
         {"name": "travellers", "type": "integer", "required": True, "min": 1, "max": 12},
         {"name": "budget", "type": "integer", "min": 100, "max": 100000},
         {"name": "trip_type", "type": "choice", "choices": ["beach", "city", "adventure", "cruise", "ski"]}]},
    {"slug": "online-courses", "name": "Online courses", "base_price": "9.00", "dedupe_window_days": 30,
     "max_shared_sales": 3, "fields": [
         {"name": "course_topic", "type": "choice", "required": True, "choices": [
             "data_science", "web_development", "ux_design", "digital_marketing", "project_management",
             "cloud_computing"]},
         {"name": "start_date", "type": "date", "required": True},
         {"name": "study_mode", "type": "choice", "required": True, "choices": [
             "self_paced", "live_online", "part_time", "full_time"]},
         {"name": "experience_level", "type": "choice", "choices": ["beginner", "intermediate", "advanced"]}]},
]
COUNTRIES_BY_VERTICAL = {"car-insurance": ("US", "US", "US", "CA"), "personal-loans": ("US", "US", "GB", "GB", "CA"),
                         "travel": ("GB", "GB", "DE", "DE", "US"), "online-courses": ("US", "GB", "DE", "CA")}

# Prepaid advertisers start with an opening balance (a finance manual credit), so leads sell at once.
ADVERTISERS = [
    {"name": "Harbor Mutual Insurance", "email": "leads@harbor-mutual.example", "billing_mode": "prepaid",
     "credit_limit": "500.00", "opening_balance": "2500.00", "time_zone": "America/New_York"},
    {"name": "Northwind Lending", "email": "partners@northwind-lending.example", "billing_mode": "invoice",
     "credit_limit": "5000.00", "time_zone": "America/Chicago"},
    {"name": "Bluewave Holidays", "email": "sales@bluewave-holidays.example", "billing_mode": "prepaid",
     "opening_balance": "1200.00", "time_zone": "Europe/London"},
    {"name": "Skillforge Academy", "email": "growth@skillforge.example", "billing_mode": "invoice",
     "credit_limit": "2000.00", "time_zone": "America/Los_Angeles"},
    {"name": "Crestline Auto & Home", "email": "buying@crestline-auto.example", "billing_mode": "prepaid",
     "opening_balance": "3000.00", "time_zone": "America/Denver"},
    {"name": "Meridian Credit Union", "email": "growth@meridian-cu.example", "billing_mode": "prepaid",
     "credit_limit": "1000.00", "opening_balance": "1000.00", "time_zone": "America/Toronto"},
]
OPENING_BALANCE_NOTE = "demo opening balance"
# Each advertiser's standing orders, placed before any lead arrives (an OrderCreate each; the order
# runs in its advertiser's time zone). Prices sit above the offers' CPL payouts (car 12.50, loans
# 18.00, travel 4.50, courses 6.00), so every sale leaves the network a margin.
ORDERS: dict[str, list[dict[str, Any]]] = {
    "Harbor Mutual Insurance": [
        {"name": "Car insurance - comprehensive and full cover, US", "vertical": "car-insurance", "price": "24.00",
         "filters": {"countries": ["US"], "choices": {"coverage": ["comprehensive", "full"]},
                     "ranges": {"vehicle_year": {"min": 2012}}}},
        {"name": "Homeowners' car insurance, exclusive", "vertical": "car-insurance", "price": "46.00",
         "exclusive": True,
         "filters": {"countries": ["US"], "choices": {"homeowner": [True]}, "max_fraud_score": 20},
         "caps": {"daily": 15, "daily_budget": "600.00"}},
        {"name": "Travel insurance for long-haul trips", "vertical": "travel", "price": "7.50",
         "filters": {"countries": ["US", "GB"], "ranges": {"budget": {"min": 1500}}}, "caps": {"daily": 30}},
        {"name": "Canada car insurance pilot", "vertical": "car-insurance", "price": "19.00", "status": "paused",
         "filters": {"countries": ["CA"]}},
    ],
    "Crestline Auto & Home": [
        {"name": "West and Sun Belt drivers", "vertical": "car-insurance", "price": "21.00",
         "filters": {"countries": ["US"], "regions": ["CA", "OR", "WA", "AZ", "CO", "TX", "FL", "GA", "TN"]}},
        {"name": "Multi-driver households, US and Canada", "vertical": "car-insurance", "price": "23.00",
         "filters": {"countries": ["US", "CA"], "ranges": {"drivers": {"min": 2}}},
         "caps": {"daily": 20, "daily_budget": "400.00"}},
    ],
    "Northwind Lending": [
        {"name": "Prime debt consolidation, exclusive", "vertical": "personal-loans", "price": "62.00",
         "exclusive": True,
         "filters": {"countries": ["US"], "choices": {"credit_score_band": ["excellent", "good"],
                                                      "purpose": ["debt_consolidation", "home_improvement"]},
                     "ranges": {"monthly_income": {"min": 3000}}},
         "caps": {"daily": 20}},
        {"name": "Employed applicants, US and UK", "vertical": "personal-loans", "price": "29.00",
         "filters": {"countries": ["US", "GB"], "choices": {"employment_status": ["employed", "self_employed"]},
                     "ranges": {"loan_amount": {"min": 1000, "max": 25000}}},
         "caps": {"daily_budget": "900.00"}},
    ],
    "Meridian Credit Union": [
        {"name": "Car loans and refinancing", "vertical": "personal-loans", "price": "27.00",
         "filters": {"countries": ["US", "CA"], "choices": {"purpose": ["car", "debt_consolidation", "other"]},
                     "ranges": {"monthly_income": {"min": 1500}}}},
        {"name": "UK members, small loans", "vertical": "personal-loans", "price": "24.00",
         "filters": {"countries": ["GB"], "ranges": {"loan_amount": {"max": 15000}}},
         "caps": {"daily": 25, "daily_budget": "500.00"}},
    ],
    "Bluewave Holidays": [
        {"name": "UK holiday enquiries, staffed hours", "vertical": "travel", "price": "8.50",
         "filters": {"countries": ["GB"], "ranges": {"budget": {"min": 1000}}},
         # The call centre works 06:00-23:59 London time every day: open 18 hours in 24.
         "schedule": {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "hours": list(range(6, 24))}},
        {"name": "Family and group trips, exclusive", "vertical": "travel", "price": "16.00", "exclusive": True,
         "filters": {"countries": ["GB", "DE"], "ranges": {"travellers": {"min": 3}}}, "caps": {"daily": 12}},
        {"name": "Germany beach and city breaks", "vertical": "travel", "price": "7.00",
         "filters": {"countries": ["DE"], "choices": {"trip_type": ["beach", "city", "cruise"]}},
         "caps": {"daily": 40, "daily_budget": "250.00"}},
    ],
    "Skillforge Academy": [
        {"name": "Tech career changers", "vertical": "online-courses", "price": "13.00",
         "filters": {"countries": ["US", "CA", "GB"],
                     "choices": {"course_topic": ["data_science", "web_development", "cloud_computing"]}}},
        {"name": "Bootcamp-ready, starting soon (exclusive)", "vertical": "online-courses", "price": "28.00",
         "exclusive": True,
         "filters": {"countries": ["US", "CA", "GB"], "min_temperature": "hot",
                     "choices": {"study_mode": ["full_time", "part_time", "live_online"]}},
         "caps": {"daily": 10}},
        {"name": "Digital marketing learners", "vertical": "online-courses", "price": "10.00",
         "filters": {"choices": {"course_topic": ["digital_marketing"]}}, "caps": {"daily": 25}},
    ],
}
AFFILIATES = [
    {"name": "CompareWise", "email": "partners@comparewise.example", "site": "https://www.comparewise.example",
     "sources": ["google-search", "bing-search", "newsletter"]},
    {"name": "Loanfinder Network", "email": "ops@loanfinder.example", "site": "https://loanfinder.example",
     "sources": ["google-search", "facebook", "taboola"]},
    {"name": "Wanderlust Deals", "email": "team@wanderlust-deals.example", "site": "https://wanderlust-deals.example",
     "sources": ["instagram", "pinterest", "newsletter"]},
    {"name": "Upskill Hub Media", "email": "hello@upskillhub.example", "site": "https://upskillhub.example",
     "sources": ["youtube", "linkedin", "google-search"]},
]
# Offers with the share of demo leads they get and the affiliates who promote them.
OFFERS = [
    ({"name": "Car insurance quotes", "vertical": "car-insurance", "kind": "marketplace", "payout_model": "cpl",
      "payout": "12.50", "revenue": "20.00", "landing_url": "https://quotes.harbor-mutual.example/car?cid={click_id}"},
     25, ["CompareWise"]),
    ({"name": "Car insurance policies", "vertical": "car-insurance", "kind": "marketplace", "payout_model": "cpa",
      "payout": "45.00", "revenue": "70.00", "landing_url": "https://quotes.harbor-mutual.example/policy?cid={click_id}"},
     10, ["CompareWise"]),
    ({"name": "Personal loan applications", "vertical": "personal-loans", "kind": "marketplace",
      "payout_model": "cpl", "payout": "18.00", "revenue": "30.00",
      "landing_url": "https://apply.loanfinder.example/personal?cid={click_id}"},
     20, ["CompareWise", "Loanfinder Network"]),
    ({"name": "Northwind Lending funded loans", "vertical": "personal-loans", "kind": "targeted",
      "advertiser": "Northwind Lending", "payout_model": "cpa", "payout": "90.00", "revenue": "140.00",
      "landing_url": "https://www.northwind-lending.example/apply?cid={click_id}"},
     8, ["Loanfinder Network"]),
    ({"name": "Holiday package enquiries", "vertical": "travel", "kind": "marketplace", "payout_model": "cpl",
      "payout": "4.50", "revenue": "8.00", "landing_url": "https://trips.bluewave-holidays.example/enquire?cid={click_id}"},
     20, ["Wanderlust Deals", "Upskill Hub Media"]),
    ({"name": "Online course sign-ups", "vertical": "online-courses", "kind": "marketplace", "payout_model": "cpl",
      "payout": "6.00", "revenue": "10.00", "landing_url": "https://learn.skillforge.example/start?cid={click_id}"},
     12, ["Upskill Hub Media"]),
    ({"name": "Bootcamp enrolments", "vertical": "online-courses", "kind": "marketplace", "payout_model": "cpa",
      "payout": "35.00", "revenue": "60.00", "landing_url": "https://learn.skillforge.example/bootcamp?cid={click_id}"},
     5, ["Upskill Hub Media", "CompareWise"]),
]
DEMO_EMAILS = {a["email"] for a in ADVERTISERS} | {a["email"] for a in AFFILIATES}

def run_demo(host: str, port: int, serve: bool, lead_count: int) -> None:
    """Migrate, seed once, print the URL and fresh keys, then serve (unless `serve` is False)."""
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{shown_host}:{port}"
    os.environ.setdefault("LEADMARKET_PUBLIC_URL", url)  # links the server builds point at this demo
    settings = configure(Settings.from_env())
    click.echo(f"migrating {_where(settings)} ...", err=True)
    upgrade(settings.database_url)
    with session_scope() as session:
        if list_verticals(session):
            click.echo("the database already holds a network: not seeding again", err=True)
        else:
            click.echo(f"seeding a demo network with {lead_count} leads ...", err=True)
            seed_network(session, lead_count)
        keys = issue_demo_keys(session)
        logins = issue_demo_logins(session)
        summary = _summary(session)
    _print_welcome(settings, url, keys, summary, logins)
    if serve:
        import uvicorn

        uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=1, loop="uvloop",
                    http="httptools", access_log=False, proxy_headers=True, log_level="info")


def seed_network(session: Session, lead_count: int, seed: int = SEED) -> None:
    """Verticals, advertisers with their opening balances, affiliates, offers, orders, then leads,
    each through its service: the leads are sold to the orders (or kept for the store) as at intake."""
    rng = random.Random(seed)
    for spec in VERTICALS:
        create_vertical(session, VerticalCreate(**{k: Decimal(v) if k == "base_price" else v
                                                   for k, v in spec.items() if k != "fields"},
                                                fields=_field_specs(spec["fields"])))
    advertisers = seed_advertisers(session)
    affiliates = {}
    for spec in AFFILIATES:
        created = create_affiliate(session, AffiliateCreate(name=spec["name"], email=spec["email"]))
        affiliates[spec["name"]] = Principal(role=Role.AFFILIATE, affiliate_id=created.id, name=spec["name"])
    offers = []
    for spec, weight, promoters in OFFERS:
        owner = advertisers.get(spec.get("advertiser", ""))
        offer = create_offer(session, OfferCreate(
            name=spec["name"], vertical=spec["vertical"], kind=spec["kind"], payout_model=spec["payout_model"],
            payout=Decimal(spec["payout"]), revenue=Decimal(spec["revenue"]), landing_url=spec["landing_url"],
            advertiser_id=owner.advertiser_id if owner else None))
        offers.append((offer.id, spec["vertical"], weight, promoters))
    place_orders(session, advertisers)
    sites = {spec["name"]: spec for spec in AFFILIATES}
    seen: dict[str, list[people.Person]] = {}
    for _ in range(lead_count):
        offer_id, vertical, _, promoters = rng.choices(offers, weights=[o[2] for o in offers])[0]
        promoter = rng.choice(promoters)
        earlier = seen.get(vertical, [])
        if len(earlier) > 5 and rng.random() < DUPLICATE_SHARE:
            person = rng.choice(earlier)
            contact = people.contact(person, rng, restyle=True)
        else:
            person = people.person(rng, rng.choice(COUNTRIES_BY_VERTICAL[vertical]))
            seen.setdefault(vertical, []).append(person)
            contact = people.contact(person, rng)
        body = {"offer_id": offer_id, "contact": contact, "attributes": people.attributes(vertical, person, rng),
                "sub_ids": {"sub1": rng.choice(sites[promoter]["sources"]), "sub2": f"cmp-{rng.randint(100, 140)}"},
                **people.consent_and_meta(vertical, sites[promoter]["site"], rng)}
        if rng.random() < PSEUDO_SHARE:
            people.make_pseudo(body, rng)
        submit_lead(session, affiliates[promoter], _submission(body))


def seed_advertisers(session: Session) -> dict[str, Principal]:
    """The demo's advertisers; each prepaid one gets its opening balance as a finance manual credit."""
    finance = Principal(role=Role.FINANCE, name="demo seed")
    advertisers = {}
    for spec in ADVERTISERS:
        created = create_advertiser(session, AdvertiserCreate(
            name=spec["name"], email=spec["email"], billing_mode=spec["billing_mode"],
            credit_limit=Decimal(spec["credit_limit"]) if "credit_limit" in spec else None))
        if "opening_balance" in spec:
            credit_advertiser(session, finance, created.id,
                              CreditCreate(amount=Decimal(spec["opening_balance"]), note=OPENING_BALANCE_NOTE))
        advertisers[spec["name"]] = Principal(role=Role.ADVERTISER, advertiser_id=created.id, name=spec["name"])
    return advertisers


def place_orders(session: Session, advertisers: dict[str, Principal]) -> None:
    """Every advertiser's ORDERS, placed as the advertiser would, in the advertiser's time zone."""
    zones = {spec["name"]: spec["time_zone"] for spec in ADVERTISERS}
    for name, orders in ORDERS.items():
        for spec in orders:
            create_order(session, advertisers[name],
                         msgspec.convert({"time_zone": zones[name], **spec}, OrderCreate, str_keys=True))


def issue_demo_keys(session: Session) -> list[tuple[str, str]]:
    """Fresh keys for staff and for the demo's own partners (keys are stored hashed, so old ones
    cannot be shown again). Partners the demo did not create get no key."""
    stamp = utcnow().strftime("%Y-%m-%d %H:%M")
    keys = []
    with transaction(session):
        for role in (Role.ADMIN, Role.FINANCE):
            _, raw = create_api_key(session, role=role, name=f"demo {role.value} {stamp}")
            keys.append((f"{role.value} key", raw))
        for affiliate in list_affiliates(session):
            if affiliate.email in DEMO_EMAILS:
                _, raw = create_api_key(session, role=Role.AFFILIATE, name=f"demo {stamp}", affiliate_id=affiliate.id)
                keys.append((f"affiliate key ({affiliate.name})", raw))
        for advertiser in list_advertisers(session):
            if advertiser.email in DEMO_EMAILS:
                _, raw = create_api_key(session, role=Role.ADVERTISER, name=f"demo {stamp}",
                                        advertiser_id=advertiser.id)
                keys.append((f"advertiser key ({advertiser.name})", raw))
    return keys


def issue_demo_logins(session: Session) -> list[tuple[str, str, str]]:
    """Portal log-ins for one user of each role, with a fresh password on every run: (role, e-mail,
    password). The advertiser and affiliate are the demo's first ones."""
    advertiser = next(a for a in list_advertisers(session) if a.email == ADVERTISERS[0]["email"])
    affiliate = next(a for a in list_affiliates(session) if a.email == AFFILIATES[0]["email"])
    logins = []
    with transaction(session):
        for role, owner in (("admin", {}), ("finance", {}), ("advertiser", {"advertiser_id": advertiser.id}),
                            ("affiliate", {"affiliate_id": affiliate.id})):
            password = secrets.token_urlsafe(12)
            user = accounts.ensure_user(session, email=f"{role}@demo.leadmarket.dev", password=password, role=role,
                                        name=f"Demo {role}", **owner)
            logins.append((role, user.email, password))
    return logins


def example_lead(offer_id: int) -> dict[str, Any]:
    """A car-insurance lead for the printed curl example; a new person on every run."""
    rng = random.Random()
    person = people.person(rng, "US")
    return {"offer_id": offer_id, "contact": people.contact(person, rng),
            "attributes": people.attributes("car-insurance", person, rng),
            "sub_ids": {"sub1": "readme"}, **people.consent_and_meta("car-insurance", "https://www.comparewise.example", rng)}


def _field_specs(rows: list[dict[str, Any]]) -> list[FieldSpec]:
    return [FieldSpec(**row) for row in rows]


def _submission(body: dict[str, Any]) -> LeadSubmission:
    return msgspec.convert(body, LeadSubmission, str_keys=True)


def _summary(session: Session) -> dict[str, Any]:
    from affiliates.models import Offer

    rows = session.execute(select(Lead.status, Lead.reason, func.count()).group_by(Lead.status, Lead.reason)).all()
    offers = session.execute(select(Offer).order_by(Offer.id)).scalars().all()
    orders = {(advertiser_id, status): count for advertiser_id, status, count in session.execute(
        select(Order.advertiser_id, Order.status, func.count()).group_by(Order.advertiser_id, Order.status))}
    bought = {advertiser_id: (count, spent) for advertiser_id, count, spent in session.execute(
        select(Sale.advertiser_id, func.count(), func.sum(Sale.price_minor)).where(Sale.status == "sold")
        .group_by(Sale.advertiser_id))}
    advertisers = []
    for advertiser in list_advertisers(session):
        if advertiser.email not in DEMO_EMAILS:
            continue
        balance = advertiser_balance(session, Principal(role=Role.ADVERTISER, advertiser_id=advertiser.id))
        count, spent_minor = bought.get(advertiser.id, (0, 0))
        advertisers.append({"name": advertiser.name, "billing_mode": advertiser.billing_mode,
                            "active": orders.get((advertiser.id, "active"), 0),
                            "paused": orders.get((advertiser.id, "paused"), 0), "bought": count,
                            "spent": from_minor(spent_minor or 0, advertiser.currency), "balance": balance.balance,
                            "currency": advertiser.currency})
    return {"leads": {(status, reason): count for status, reason, count in rows},
            "offers": [(o.id, o.name, o.vertical_id, o.kind, o.payout_model, o.payout_minor, o.currency)
                       for o in offers],
            "verticals": {v.id: v.slug for v in list_verticals(session)}, "advertisers": advertisers}


def lead_summary(leads: dict[tuple[str, str | None], int]) -> str:
    """`Leads: 300 (sold 171, accepted 95, review 3, rejected 31: duplicate 19, name_test 7, ...)`."""
    by_status: dict[str, int] = {}
    rejected: dict[str, int] = {}
    for (status, reason), count in leads.items():
        by_status[status] = by_status.get(status, 0) + count
        if status == "rejected":
            rejected[reason or "unknown"] = rejected.get(reason or "unknown", 0) + count
    rank = {status: i for i, status in enumerate(LEAD_STATUS_ORDER)}
    parts = []
    for status in sorted(by_status, key=lambda s: (rank.get(s, len(rank)), s)):
        part = f"{status} {by_status[status]}"
        if status == "rejected":
            part += ": " + ", ".join(f"{reason} {count}" for reason, count in
                                     sorted(rejected.items(), key=lambda item: (-item[1], item[0])))
        parts.append(part)
    return f"Leads: {sum(by_status.values())} ({', '.join(parts) or 'none yet'})"


def _where(settings: Settings) -> str:
    if settings.is_sqlite:
        return f"the SQLite file {settings.database_url.removeprefix('sqlite:///')}"
    return "the database at DATABASE_URL"


def _print_welcome(settings: Settings, url: str, keys: list[tuple[str, str]], summary: dict[str, Any],
                   logins: list[tuple[str, str, str]]) -> None:
    lines = ["", f"Leadmarket demo: {url}",
             f"  API docs:  {url}/schema   (OpenAPI JSON at {url}/schema/openapi.json)",
             f"  database:  {_where(settings)}",
             f"  redis:     {'REDIS_URL' if settings.redis_url else 'none - tasks run in-process, counters in memory'}",
             "", "Keys (new on every run; send one as the X-API-Key header):"]
    lines += [f"  {label}: {raw}" for label, raw in keys]
    lines += ["", f"Portal (log in at {url}/login; passwords are new on every run):"]
    lines += [f"  {role} login: {email} / {password}" for role, email, password in logins]
    lines += ["", "Offers:"]
    car_offer = None
    for offer_id, name, vertical_id, kind, model, payout_minor, currency in summary["offers"]:
        slug = summary["verticals"][vertical_id]
        lines.append(f"  offer {offer_id}: {name} [{slug}, {kind}, {model.upper()} "
                     f"{from_minor(payout_minor, currency)} {currency}]")
        if car_offer is None and slug == "car-insurance" and model == "cpl":
            car_offer = offer_id
    lines += ["", "Advertisers (their orders, the leads they bought and their balance):"]
    for row in summary["advertisers"]:
        paused = f" + {row['paused']} paused" if row["paused"] else ""
        lines.append(f"  {row['name']} [{row['billing_mode']}]: {row['active']} active{paused} orders, bought "
                     f"{row['bought']} leads for {row['spent']} {row['currency']}, balance {row['balance']} "
                     f"{row['currency']}")
    lines += ["", lead_summary(summary["leads"])]
    affiliate = next((raw for label, raw in keys if label.startswith("affiliate key (CompareWise)")), None)
    if car_offer is not None and affiliate is not None:
        body = json.dumps(example_lead(car_offer), ensure_ascii=False).replace("'", "\\u0027")  # shell-quoted
        lines += ["", "Post a lead (run it twice to see the duplicate rejected):",
                  f"  curl -s -X POST {url}/api/v1/leads \\",
                  f"    -H 'X-API-Key: {affiliate}' -H 'Content-Type: application/json' \\",
                  f"    -d '{body}'", "",
                  "Read it back:", f"  curl -s {url}/api/v1/leads/LEAD_ID -H 'X-API-Key: {affiliate}'"]
    click.echo("\n".join(lines) + "\n")
