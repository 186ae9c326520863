"""Admin endpoints of the fraud screen: blocklists, screening settings, the review queue, anomalies."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from api.auth import requires_role
from api.deps import Caller, DbSession
from api.errors import problems
from fraud import anomalies, blocklists, review, thresholds
from fraud.schemas import (AnomalyReport, BlocklistCreate, BlocklistEntryView, OfferScreeningUpdate,
                           OfferScreeningView, ReviewDecisionBody, ReviewLeadView, ReviewOutcome,
                           VerticalScreeningUpdate, VerticalScreeningView)
from leadmarket.identity import Role

Id = Annotated[int, PathParameter(ge=1, le=2**31 - 1)]  # blocklist, vertical and offer keys: 32-bit columns
LeadId = Annotated[int, PathParameter(ge=1, le=2**62)]
KINDS = "ip, email_domain, phone or sub_id"
DECISION_PROBLEMS = problems(400, 401, 403, 404, 409, 413, 422)


class BlocklistController(Controller):
    path = "/api/v1/blocklist"
    guards = [requires_role(Role.ADMIN)]
    tags = ["fraud"]

    @post(sync_to_thread=True, responses=problems(400, 401, 403, 409, 413, 422))
    def add(self, data: JSONBody[BlocklistCreate], session: DbSession, principal: Caller) -> BlocklistEntryView:
        """Block an IP or CIDR network, an e-mail domain (and its subdomains), a phone, or an affiliate's sub1."""
        return blocklists.entry_view(blocklists.add_entry(session, principal, data))

    @get(sync_to_thread=True, responses=problems(400, 401, 403, 422))
    def list(self, session: DbSession,
             kind: Annotated[str | None, QueryParameter(required=False, description=KINDS)] = None,
             ) -> list[BlocklistEntryView]:
        return [blocklists.entry_view(e) for e in blocklists.list_entries(session, kind)]

    @delete("/{entry_id:int}", sync_to_thread=True, status_code=204, responses=problems(400, 401, 403, 404, 422))
    def remove(self, entry_id: Id, session: DbSession, principal: Caller) -> None:
        blocklists.remove_entry(session, principal, entry_id)


class ScreeningController(Controller):
    """The screen's thresholds per vertical (and quality rules), and each offer's overrides."""

    path = "/api/v1"
    guards = [requires_role(Role.ADMIN)]
    tags = ["fraud"]

    @get("/verticals/{vertical_id:int}/screening", sync_to_thread=True, responses=problems(400, 401, 403, 404, 422))
    def vertical(self, vertical_id: Id, session: DbSession) -> VerticalScreeningView:
        return thresholds.vertical_view(thresholds.get_vertical(session, vertical_id))

    @patch("/verticals/{vertical_id:int}/screening", sync_to_thread=True,
           responses=problems(400, 401, 403, 404, 413, 422))
    def update_vertical(self, vertical_id: Id, data: JSONBody[VerticalScreeningUpdate], session: DbSession,
                        principal: Caller) -> VerticalScreeningView:
        return thresholds.vertical_view(thresholds.update_vertical(session, principal, vertical_id, data))

    @get("/offers/{offer_id:int}/screening", sync_to_thread=True, responses=problems(400, 401, 403, 404, 422))
    def offer(self, offer_id: Id, session: DbSession) -> OfferScreeningView:
        return thresholds.offer_view(thresholds.get_offer(session, offer_id))

    @patch("/offers/{offer_id:int}/screening", sync_to_thread=True, responses=problems(400, 401, 403, 404, 413, 422))
    def update_offer(self, offer_id: Id, data: JSONBody[OfferScreeningUpdate], session: DbSession,
                     principal: Caller) -> OfferScreeningView:
        return thresholds.offer_view(thresholds.update_offer(session, principal, offer_id, data))


class ReviewController(Controller):
    path = "/api/v1/review/leads"
    guards = [requires_role(Role.ADMIN)]
    tags = ["fraud"]

    @get(sync_to_thread=True, responses=problems(400, 401, 403, 422))
    def queue(self, session: DbSession,
              limit: Annotated[int, QueryParameter(ge=1, le=500, required=False)] = 50,
              after_id: Annotated[int | None, QueryParameter(ge=0, le=2**62, required=False)] = None,
              vertical_id: Annotated[int | None, QueryParameter(ge=1, le=2**31 - 1, required=False)] = None,
              ) -> list[ReviewLeadView]:
        """Leads waiting for review, oldest first, with their fraud score and reasons."""
        return review.review_queue(session, limit=limit, after_id=after_id, vertical_id=vertical_id)

    @post("/{lead_id:int}/approve", sync_to_thread=True, status_code=200, responses=DECISION_PROBLEMS)
    def approve(self, lead_id: LeadId, data: JSONBody[ReviewDecisionBody], session: DbSession,
                principal: Caller) -> ReviewOutcome:
        """Send the lead on to distribution. 409 if it was decided already."""
        return review.approve(session, principal, lead_id, data.note)

    @post("/{lead_id:int}/reject", sync_to_thread=True, status_code=200, responses=DECISION_PROBLEMS)
    def reject(self, lead_id: LeadId, data: JSONBody[ReviewDecisionBody], session: DbSession,
               principal: Caller) -> ReviewOutcome:
        """Reject the lead; a note saying why is required. 409 if it was decided already."""
        return review.reject(session, principal, lead_id, data.note)


class AnomalyController(Controller):
    path = "/api/v1/fraud/anomalies"
    guards = [requires_role(Role.ADMIN)]
    tags = ["fraud"]

    @get(sync_to_thread=True, responses=problems(400, 401, 403, 422))
    def report(self, session: DbSession,
               days: Annotated[int, QueryParameter(required=False)] = 7,
               min_leads: Annotated[int, QueryParameter(required=False)] = 30,
               z: Annotated[float, QueryParameter(required=False)] = 3.0,
               min_difference: Annotated[float, QueryParameter(required=False)] = 0.05,
               vertical_id: Annotated[int | None, QueryParameter(ge=1, le=2**31 - 1, required=False)] = None,
               limit: Annotated[int, QueryParameter(ge=1, le=5000, required=False)] = 200,
               ) -> AnomalyReport:
        """Per affiliate and sub1: rejection rate by reason, duplicate and review rates against the
        rest of the network, flagged by a one-sided two-proportion z-test (see `method`)."""
        return anomalies.anomaly_report(session, days=days, min_leads=min_leads, z_threshold=z,
                                        min_difference=min_difference, vertical_id=vertical_id, limit=limit)


FRAUD_CONTROLLERS = [BlocklistController, ScreeningController, ReviewController, AnomalyController]
