"""Which network addresses a feed's redirect or a feed-given URL may lead to. Pure.

A feed is fetched from the host the operator wrote in the feed list, whatever its address. Where
the *feed* chooses the next host (a redirect, a WebSub hub named in its content), that host must
not be a loopback, private, link-local, reserved or multicast address, unless the operator allows
its network (`connectors.allow_networks`): otherwise any feed could make the connector fetch
from, or pin in its state, the machine's own services or the internal network (SSRF).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """Parse CIDRs (`10.0.0.0/8`, `::1/128`); ValueError names the one that is not."""
    out = []
    for c in cidrs:
        try:
            out.append(ipaddress.ip_network(c.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"'{c[:60]}' is not a network such as 10.0.0.0/8 ({exc})") from exc
    return tuple(out)


def internal(address: str) -> bool:
    """True for an address no public feed should lead to."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True  # not an address at all: refuse rather than guess
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast
            or ip.is_unspecified)


def refused(addresses: Sequence[str], allowed: Sequence[Network]) -> str | None:
    """The first address that is internal and in no allowed network, or None."""
    for a in addresses:
        if internal(a):
            try:
                ip = ipaddress.ip_address(a.split("%", 1)[0])
            except ValueError:
                return a
            if not any(ip.version == n.version and ip in n for n in allowed):
                return a
    return None
