"""X-Request-ID: on every answer (echoed when the client's is sane, else a fresh one) and on every
log line written while the request runs, in the event loop and in worker threads alike."""

from __future__ import annotations

import logging
import re

import pytest

from tests.fraud_helpers import settings_changed
from tests.test_fraud_velocity import closed_port

GENERATED = re.compile(r"[0-9a-f]{32}")


def test_every_kind_of_answer_carries_a_request_id(client, network):
    answers = {
        "health": client.get("/healthz"),
        "unknown path": client.get("/no/such/page"),
        "wrong method": client.delete("/healthz"),
        "no api key": client.get("/api/v1/offers"),
        "bad body": client.post("/api/v1/leads", headers=network.affiliate_headers(), content=b"{not json"),
        "created": client.post("/api/v1/tracking-links", headers=network.affiliate_headers(),
                               json={"offer_id": network.cpl_offer["id"]}),
        "unknown link": client.get("/r/nosuchcode", follow_redirects=False),
        "schema": client.get("/schema/openapi.json"),
    }
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {"health": 200, "unknown path": 404, "wrong method": 405, "no api key": 401, "bad body": 400,
                        "created": 201, "unknown link": 404, "schema": 200}
    ids = [answer.headers["x-request-id"] for answer in answers.values()]
    assert all(GENERATED.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == len(ids)  # one per request


@pytest.mark.parametrize("sent", ["4bf92f3577b34da6a3ce929d0e0e4736", "partner-42.retry:3", "A" * 128])
def test_a_sane_client_id_is_echoed(client, sent):
    assert client.get("/healthz", headers={"X-Request-ID": sent}).headers["x-request-id"] == sent


@pytest.mark.parametrize("sent", ["A" * 129, "has space", "semi;colon", "<script>", "ünïcode", ""])
def test_an_insane_client_id_is_replaced(client, sent):
    answer = client.get("/healthz", headers={"X-Request-ID": sent.encode("utf-8")})
    assert answer.status_code == 200
    assert GENERATED.fullmatch(answer.headers["x-request-id"])


def test_log_lines_written_in_a_worker_thread_carry_the_request_id(client, network, settings, app_log):
    """Sync handlers run in Litestar's thread pool; with Redis gone, creating a tracking link logs
    that its target could not be cached, and that line names the request it belongs to."""
    with settings_changed(settings, redis_url=f"redis://127.0.0.1:{closed_port()}/0"):
        answer = client.post("/api/v1/tracking-links", headers={**network.affiliate_headers(),
                                                                "X-Request-ID": "trace-link-1"},
                             json={"offer_id": network.cpl_offer["id"]})
    assert answer.status_code == 201 and answer.headers["x-request-id"] == "trace-link-1"
    lines = [line for line in app_log.getvalue().splitlines() if "leadmarket.tracking" in line]
    assert lines and all("[trace-link-1] could not cache link target" in line for line in lines), app_log.getvalue()


def test_log_lines_outside_a_request_say_so(app_log):
    logging.getLogger("leadmarket.test").warning("a worker's line")
    (line,) = app_log.getvalue().splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ WARNING leadmarket\.test \[-\] a worker's line", line)

