"""Lead store purchases racing on real PostgreSQL: an exclusive lead sells once, a shared lead never
beyond its vertical's most, and the ledger stays balanced."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from billing.ledger import trial_balance
from billing.models import LedgerTransaction
from leadmarket.identity import Principal, Role
from marketplace import store
from marketplace.models import Lead
from marketplace.sale_models import LeadSaleCount, Sale
from marketplace.sales import LeadAlreadySold
from tests.store_support import new_advertiser, stored_lead

BUYERS = 8


def race(db, lead_id: int, buyers: list[Principal], *, exclusive: bool) -> tuple[list[int], list[str]]:
    """Every buyer clicks "buy" at once, each on its own connection; (sale ids, refusals)."""
    start = threading.Barrier(len(buyers))

    def try_to_buy(buyer: Principal) -> int | str:
        start.wait()
        with db() as session:
            try:
                return store.buy_lead(session, buyer, lead_id, exclusive=exclusive).sale_id
            except LeadAlreadySold:
                return "sold"

    with ThreadPoolExecutor(len(buyers)) as pool:
        outcomes = list(pool.map(try_to_buy, buyers))
    return [o for o in outcomes if isinstance(o, int)], [o for o in outcomes if isinstance(o, str)]


def principals(client, network, n: int) -> list[Principal]:
    return [Principal(role=Role.ADVERTISER, advertiser_id=new_advertiser(client, network)["id"]) for _ in range(n)]


def test_an_exclusive_lead_is_sold_once_when_buyers_race(client, db, network):
    buyers = principals(client, network, BUYERS)
    lead_id = stored_lead(client, network)
    sales, refused = race(db, lead_id, buyers, exclusive=True)
    assert len(sales) == 1 and refused == ["sold"] * (BUYERS - 1)
    with db() as session:
        assert session.execute(select(func.count()).select_from(Sale).where(Sale.lead_id == lead_id)).scalar_one() == 1
        assert session.execute(select(Lead.status).where(Lead.id == lead_id)).scalar_one() == "sold"
        charges = session.execute(select(func.count()).select_from(LedgerTransaction)
                                  .where(LedgerTransaction.reference == f"sale:{sales[0]}")).scalar_one()
        assert charges == 1
        assert trial_balance(session).balanced


def test_a_shared_lead_is_never_sold_beyond_its_most_when_buyers_race(client, db, network):
    buyers = principals(client, network, BUYERS)
    lead_id = stored_lead(client, network)
    sales, refused = race(db, lead_id, buyers, exclusive=False)
    assert len(sales) == 3 and len(refused) == BUYERS - 3          # the vertical's max_shared_sales is 3
    with db() as session:
        count = session.execute(select(LeadSaleCount).where(LeadSaleCount.lead_id == lead_id)).scalar_one()
        assert (count.sales, count.max_sales, count.exclusive) == (3, 3, False)
        assert session.execute(select(func.count()).select_from(Sale).where(Sale.lead_id == lead_id)).scalar_one() == 3
        assert session.execute(select(Lead.status).where(Lead.id == lead_id)).scalar_one() == "sold"
        assert trial_balance(session).balanced


def test_exclusive_and_shared_buyers_racing_never_mix(client, db, network):
    buyers = principals(client, network, BUYERS)
    for _ in range(3):
        lead_id = stored_lead(client, network)
        start = threading.Barrier(len(buyers))

        def try_to_buy(i: int, start: threading.Barrier = start, lead_id: int = lead_id,
                       ) -> tuple[bool, int | None]:
            start.wait()
            with db() as session:
                try:
                    return i % 2 == 0, store.buy_lead(session, buyers[i], lead_id, exclusive=i % 2 == 0).sale_id
                except LeadAlreadySold:
                    return i % 2 == 0, None

        with ThreadPoolExecutor(len(buyers)) as pool:
            won = [(exclusive, sale) for exclusive, sale in pool.map(try_to_buy, range(len(buyers))) if sale]
        kinds = {exclusive for exclusive, _ in won}
        assert (kinds == {True} and len(won) == 1) or (kinds == {False} and 1 <= len(won) <= 3), won
    with db() as session:
        assert trial_balance(session).balanced
