"""The SSRF guard of outbound webhooks: an endpoint URL must be https to public addresses, unless
``[webhooks] allow_private_urls`` (local development, tests) also allows http and loopback/private
addresses. Checked at registration and again at every send, on the addresses the name resolves to
then; the sender connects to exactly the address it checked (no second lookup to rebind).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(Exception):
    """The URL may not be called; the message says why in the operator's words."""


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """What is wrong with ``url`` before any lookup, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        allowed = "http or https" if allow_private else "https ([webhooks] allow_private_urls allows http)"
        return f"must be {allowed}"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None or port == 0:
        return "must not carry a user name or password, nor port 0"
    literal = _literal(parts.hostname)
    if literal is not None and not allow_private and not _public(literal):
        return f"{literal} is not a public address ([webhooks] allow_private_urls allows it)"
    return None


def _public(address: IPAddress) -> bool:
    # An IPv4-mapped IPv6 address (::ffff:127.0.0.1) reaches the IPv4 one: judge that.
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return (mapped or address).is_global and not (mapped or address).is_multicast


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def resolve(
    host: str, port: int, *, allow_private: bool, lookup_seconds: float = 5.0
) -> list[IPAddress]:
    """Every address ``host`` resolves to, all allowed; UnsafeURL otherwise (or when it does not)."""
    literal = _literal(host)
    if literal is not None:
        found = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(lookup_seconds):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError, UnicodeError, ValueError) as exc:  # ValueError: e.g. a NUL in it
            raise UnsafeURL(f"{host} cannot be resolved ({exc})") from None
        found = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
    refused = [address for address in found if not allow_private and not _public(address)]
    if refused:
        raise UnsafeURL(
            f"{host} resolves to {refused[0]}, not a public address ([webhooks] allow_private_urls allows it)"
        )
    if not found:
        raise UnsafeURL(f"{host} resolves to no address")
    return found


async def registration_problem(url: str, *, allow_private: bool) -> str | None:
    """What refuses ``url`` as an endpoint now. A name that does not resolve yet is accepted: the
    check that counts is the one at every send."""
    problem = url_problem(url, allow_private=allow_private)
    if problem or allow_private:
        return problem
    parts = urlsplit(url)
    try:
        await resolve(parts.hostname or "", parts.port or 443, allow_private=False, lookup_seconds=2.0)
    except UnsafeURL as exc:
        return None if "cannot be resolved" in str(exc) or "no address" in str(exc) else str(exc)
    return None
