"""The client IP a rate limit counts: the peer, or (only from trusted proxies) the
right-most address of X-Forwarded-For that is not itself a trusted proxy."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientIp:
    def __init__(self, trusted: Iterable[str] = ()) -> None:
        networks = []
        for entry in (t.strip() for t in trusted):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(
                    f"FAPIAO_TRUSTED_PROXIES: {entry!r} is not an IP address or network"
                ) from None
        self.networks: tuple[Network, ...] = tuple(networks)

    def _trusted(self, host: str) -> bool:
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in net for net in self.networks)

    def resolve(self, peer: str | None, forwarded_for: str | None) -> str:
        peer = peer or "unknown"
        if not self.networks or not forwarded_for or not self._trusted(peer):
            return peer
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return peer  # garbage in the header: count the proxy itself
        return hops[0] if hops else peer
