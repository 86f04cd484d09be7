"""Every outbound call to an address a user typed goes through here (alert webhooks today).

An operations user chooses the URL, so without a guard the server could be made to call its own
loopback, the private network or the cloud metadata service (169.254.169.254), follow a redirect
there, and report back which ports answer. So: only http(s); the host is resolved and every
address it resolves to must be public (not loopback, private, link-local, multicast, reserved or
unspecified) unless the host or its network is in ``OUTBOUND_ALLOWED_HOSTS`` (internal receivers);
redirects are not followed; errors say what happened in general terms only.

Residual risk, documented: the name is resolved here and again by the HTTP client a moment later
(a DNS answer that changes in between is not caught); allow-list internal receivers by address.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings


class OutboundRefused(Exception):
    """The target may not be called; the message is safe to show."""


class OutboundFailed(Exception):
    """The call failed; the message is generic on purpose (no port or host probing through it)."""


def _allowed(host: str, address: ipaddress._BaseAddress) -> bool:
    for entry in getattr(settings, "OUTBOUND_ALLOWED_HOSTS", []):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == host.lower():
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _is_public(address: ipaddress._BaseAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
                or address.is_reserved or address.is_unspecified or not address.is_global)


def check_url(url: str) -> None:
    """Raise OutboundRefused unless ``url`` is http(s) to a host whose every address may be called."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundRefused("Only http and https addresses can be called.")
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise OutboundRefused("The address has an invalid port.") from exc
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundRefused(f"The host {host!r} could not be resolved.") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not _is_public(address) and not _allowed(host, address):
            raise OutboundRefused(
                f"The host {host!r} is on a private, loopback or link-local network; internal receivers must "
                "be listed in OUTBOUND_ALLOWED_HOSTS."
            )


def post_json(url: str, payload: dict, *, timeout: float, headers: dict | None = None) -> None:
    """POST ``payload`` as JSON to a checked URL, no redirects. Raises OutboundRefused or OutboundFailed."""
    check_url(url)
    try:
        response = requests.post(url, data=json.dumps(payload), timeout=timeout, allow_redirects=False,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    except requests.Timeout as exc:
        raise OutboundFailed("The receiver did not answer in time.") from exc
    except requests.RequestException as exc:
        raise OutboundFailed("The receiver could not be reached.") from exc
    if 300 <= response.status_code < 400:
        raise OutboundFailed(f"The receiver answered with a redirect (HTTP {response.status_code}), which is not followed.")
    if response.status_code >= 400:
        raise OutboundFailed(f"The receiver answered HTTP {response.status_code}.")
