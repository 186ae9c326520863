"""Partners' URLs (buyer webhooks, ping-post buyers, postback trackers) may only reach public
addresses by default: a partner cannot make our servers call into our own network."""

from __future__ import annotations

from dataclasses import replace

import pytest

from affiliates import postbacks
from affiliates.conversion_schemas import PostbackTemplateSet
from leadmarket import outbound
from leadmarket.identity import Principal, Role
from leadmarket.settings import Settings, configure
from tests.http_stubs import ScriptedServer


@pytest.fixture
def strict(settings):
    configure(replace(settings, allow_private_callbacks=False))
    yield
    configure(settings)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "10.1.2.3", "192.168.0.9", "169.254.169.254", "::1",
                                  "0.0.0.0", "no-such-host.invalid"])
def test_private_loopback_metadata_and_unresolvable_hosts_are_not_public(host):
    assert not outbound.is_public_host(host, 80)


def test_a_public_address_is_public():
    assert outbound.is_public_host("8.8.8.8", 443)  # a literal: no DNS needed


def test_by_default_a_partner_url_on_our_network_is_refused_before_connecting(strict):
    server = ScriptedServer("/hook")
    try:
        with pytest.raises(outbound.PrivateDestination), outbound.client() as http:
            http.post(server.url, content=b"{}")
        assert server.requests == []
    finally:
        server.close()


def test_an_affiliate_s_test_postback_to_a_private_address_fails_and_says_why(db, network, strict):
    server = ScriptedServer("/pb")
    affiliate = Principal(role=Role.AFFILIATE, affiliate_id=network.affiliate["id"], name="aff")
    try:
        with db() as session:
            postbacks.set_template(session, affiliate, PostbackTemplateSet(url=server.url + "?cid={click_id}"))
            result = postbacks.send_test_postback(session, affiliate, timeout=2)
        assert (result.ok, result.status_code, result.error) == (False, None, "PrivateDestination")
        assert server.requests == []
    finally:
        server.close()


def test_the_setting_comes_from_the_environment():
    assert not Settings.from_env({}).allow_private_callbacks
    assert Settings.from_env({"LEADMARKET_ALLOW_PRIVATE_CALLBACKS": "1"}).allow_private_callbacks
