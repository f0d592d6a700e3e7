"""Keyed randomness: the same (seed, key) gives the same number in every policy's run.

The world draws each chance from a hash of what it is about (the account, the day, the
contact's time and channel) instead of from one shared stream, so that a debtor who self-cures
on day 4 does so under every policy, and one policy's extra contact does not shift every later
draw of the others (common random numbers: the comparison measures the policies, not the luck).
"""

from __future__ import annotations

import hashlib
import struct

_SCALE = 1.0 / 2**64


def uniform(seed: int, *key: object) -> float:
    """A uniform number in [0, 1) fixed by `seed` and `key`."""
    digest = hashlib.blake2b(repr((seed, *key)).encode(), digest_size=8).digest()
    return struct.unpack("<Q", digest)[0] * _SCALE


def chance(seed: int, p: float, *key: object) -> bool:
    return uniform(seed, *key) < p


def between(seed: int, lo: float, hi: float, *key: object) -> float:
    return lo + (hi - lo) * uniform(seed, *key)


def pick(seed: int, options: tuple | list, *key: object):  # type: ignore[no-untyped-def]
    return options[int(uniform(seed, *key) * len(options))]
