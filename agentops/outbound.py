"""Every outbound call to an address a user typed goes through here: alert webhooks and the model
and agent endpoints of evals.

An operations user chooses the URL, so without a guard the server could be made to call its own
loopback, the private network or the cloud metadata service (169.254.169.254), follow a redirect
there, and report back which ports answer. So: only http(s); the host is resolved and every
address it resolves to must be public (not loopback, private, link-local, multicast, reserved or
unspecified) unless it is allow-listed in ``OUTBOUND_ALLOWED_HOSTS`` (internal receivers: a host
name, an address or a network, each optionally with ``:port``); redirects are not followed;
proxies from the environment are not used; errors say what happened in general terms only.

The name is resolved once, and the connection goes to the address that was checked (DNS pinning):
the URL is rewritten to that address, the original ``Host`` header is sent, and for https the TLS
server name (SNI) and the certificate check use the original name. A DNS answer that changes
between the check and the connection (rebinding) therefore cannot redirect the call.
"""

from __future__ import annotations

import contextvars
import ipaddress
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter


class OutboundRefused(Exception):
    """The target may not be called; the message is safe to show."""


class OutboundUnresolved(OutboundRefused):
    """The host name did not resolve (now): refused for a call; a form may accept it and let the call decide."""


class OutboundFailed(Exception):
    """The call failed; the message is generic on purpose (no port or host probing through it)."""


# Entries allowed for the current context on top of the setting: a component that starts its own
# local receiver (the demo seeder's in-process model) admits exactly that host:port while it runs.
_extra_allowed: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("outbound_extra", default=())


@contextmanager
def allowing(entry: str) -> Iterator[None]:
    token = _extra_allowed.set((*_extra_allowed.get(), entry))
    try:
        yield
    finally:
        _extra_allowed.reset(token)


def _resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (the one DNS lookup of a call; tests replace it)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0].split("%", 1)[0] for info in infos]


def _split_entry(entry: str) -> tuple[str, int | None]:
    """``name``, ``10.0.0.0/8``, ``::1``, ``name:8765``, ``127.0.0.1:8765``, ``[::1]:8765``."""
    if entry.startswith("["):
        inside, _, rest = entry[1:].partition("]")
        return inside, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        return name, int(port) if port.isdigit() else -1  # a malformed port matches nothing
    return entry, None


def _allowed(host: str, port: int, address: ipaddress._BaseAddress) -> bool:
    for raw in (*getattr(settings, "OUTBOUND_ALLOWED_HOSTS", []), *_extra_allowed.get()):
        entry, entry_port = _split_entry(raw.strip().lower())
        if not entry or (entry_port is not None and entry_port != port):
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


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``url``, with the address in place of the name) and what to
    present there (``host_header``; ``hostname`` for TLS SNI and the certificate check)."""

    url: str
    hostname: str
    host_header: str
    address: str


def resolve(url: str) -> Target:
    """Check ``url`` and pin it to one of its checked addresses; OutboundRefused when it may not be called."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundRefused("Only http and https addresses can be called.")
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise OutboundRefused("The address has an invalid port.") from exc
    try:
        addresses = [ipaddress.ip_address(a) for a in _resolve(host, port)]
    except (OSError, UnicodeError, ValueError) as exc:
        raise OutboundUnresolved(f"The host {host!r} could not be resolved.") from exc
    if not addresses:
        raise OutboundUnresolved(f"The host {host!r} could not be resolved.")
    for address in addresses:
        if not _is_public(address) and not _allowed(host, port, address):
            raise OutboundRefused(
                f"The host {host!r} is on a private, loopback or link-local network; internal receivers must "
                "be listed in OUTBOUND_ALLOWED_HOSTS."
            )
    pinned = addresses[0]
    literal = f"[{pinned}]" if pinned.version == 6 else str(pinned)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    return Target(url=urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), hostname=host,
                  host_header=parts.netloc.rpartition("@")[2], address=str(pinned))


def check_url(url: str) -> None:
    """Raise OutboundRefused unless ``url`` is http(s) to a host whose every address may be called."""
    resolve(url)


class _PinnedAdapter(HTTPAdapter):
    """Connects to the address in the URL but speaks TLS to ``hostname``: SNI and certificate check."""

    def __init__(self, hostname: str, **kwargs) -> None:
        self.hostname = hostname
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["server_hostname"] = self.hostname
        kwargs["assert_hostname"] = self.hostname
        super().init_poolmanager(*args, **kwargs)


def session_for(target: Target) -> requests.Session:
    """A session for calls to ``target``'s host (reusable for the same host: keep-alive per address)."""
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: it would resolve the name itself
    session.mount("https://", _PinnedAdapter(target.hostname))
    return session


def send(url: str, *, data: bytes | str, headers: dict, timeout: float,
         sessions: dict[str, requests.Session] | None = None) -> requests.Response:
    """POST ``data`` to ``url`` at its checked address, no redirects. OutboundRefused when the target may
    not be called; requests' own exceptions otherwise (the caller words them). ``sessions`` keeps one
    session per host name across calls (keep-alive)."""
    target = resolve(url)
    if sessions is None:
        session = session_for(target)
    else:
        session = sessions.get(target.hostname) or sessions.setdefault(target.hostname, session_for(target))
    return session.post(target.url, data=data, timeout=timeout, allow_redirects=False,
                        headers={**headers, "Host": target.host_header})


def post_json(url: str, payload: dict, *, timeout: float, headers: dict | None = None) -> None:
    """POST ``payload`` as JSON to a checked URL, no redirects. Raises OutboundRefused or OutboundFailed."""
    try:
        response = send(url, data=json.dumps(payload), timeout=timeout,
                        headers={"Content-Type": "application/json", **(headers or {})})
    except requests.Timeout as exc:
        raise OutboundFailed("The receiver did not answer in time.") from exc
    except requests.RequestException as exc:
        raise OutboundFailed("The receiver could not be reached.") from exc
    if 300 <= response.status_code < 400:
        raise OutboundFailed(f"The receiver answered with a redirect (HTTP {response.status_code}), which is not followed.")
    if response.status_code >= 400:
        raise OutboundFailed(f"The receiver answered HTTP {response.status_code}.")
