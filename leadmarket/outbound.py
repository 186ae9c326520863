"""HTTP clients for calls to URLs that partners typed in (buyer webhooks, ping-post buyers, affiliate
postbacks): they may only reach public addresses, so a partner cannot make our servers call into
our own network (server-side request forgery) — loopback, private, link-local (cloud metadata at
169.254.169.254), reserved and multicast addresses are refused before connecting.

`LEADMARKET_ALLOW_PRIVATE_CALLBACKS=1` lifts the rule, for a network whose buyers live on a private
network and for tests that run buyers on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import httpx

from leadmarket.settings import current_settings


class PrivateDestination(httpx.ConnectError):
    """The URL's host is, or resolves to, an address that is not public."""


def is_public_host(host: str, port: int) -> bool:
    """Every address the host resolves to is globally routable (a name that does not resolve is not)."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError):
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a.split("%", 1)[0]).is_global for a in addresses)


class _PublicOnlyTransport(httpx.HTTPTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        # Checked per request; the connection made right after resolves again, so a DNS answer that
        # changes in between (rebinding) is not covered — the usual residual risk of this check.
        if not is_public_host(url.host, port):
            raise PrivateDestination(f"{url.host} is not a public address; callbacks may only reach the internet",
                                     request=request)
        return super().handle_request(request)


def client(**options: Any) -> httpx.Client:
    """An httpx.Client for partner URLs (the same options as httpx.Client)."""
    if current_settings().allow_private_callbacks:
        return httpx.Client(**options)
    return httpx.Client(transport=_PublicOnlyTransport(), **options)
