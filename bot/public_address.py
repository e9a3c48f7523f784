"""Which addresses may be reported, looked up or probed at all: public unicast ones only (pure).

``ipaddress``' ``is_global`` (Python 3.11) says True for multicast (224.0.0.0/4, ff00::/8), for the
reserved IPv6 space outside global unicast (``::2``, ``::10.0.0.1``, 64:ff9b::/96) and for
special-use blocks registered after it was written; none of them has anybody to report to, and no
query about them may leave the machine. A 6to4 address (2002::/16) carries an IPv4 address: it is
public only when that one is.
"""

from __future__ import annotations

import functools
import ipaddress

_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")  # every allocation to the registries lies in it
_SPECIAL_USE = (
    ipaddress.ip_network("3fff::/20"),        # documentation (RFC 9637)
    ipaddress.ip_network("64:ff9b:1::/48"),   # local-use IPv4/IPv6 translation (RFC 8215)
    ipaddress.ip_network("5f00::/16"),        # SRv6 segment identifiers (RFC 9602)
)


def is_public(ip: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A global unicast address: one whose owner can be looked up and told."""
    return _public_text(ip) if isinstance(ip, str) else _public(ip)


@functools.lru_cache(maxsize=8192)
def _public_text(ip: str) -> bool:
    """(Remembered: a bulk lookup asks it a dozen times an address, and parsing the text and the
    range checks were a fifth of its interpreter time.)"""
    return _public(ipaddress.ip_address(ip))


def _public(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if not addr.is_global or addr.is_multicast:
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        if addr not in _GLOBAL_UNICAST_V6:
            return False
        if addr.sixtofour is not None and not _public(addr.sixtofour):
            return False
    return not any(addr.version == net.version and addr in net for net in _SPECIAL_USE)
