"""Public identifiers: a short type prefix and enough randomness to be unguessable."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 20) -> str:
    """``prefix`` and ``length`` characters drawn uniformly from ``_ALPHABET``.

    One draw of a number below 62**length written in base 62, not one ``secrets.choice`` per
    character: that read the OS's randomness 20 times per id, 7% of an upsert's CPU (pyinstrument,
    benchmarks/ingest_bots.py's plain phase). The ids are distributed exactly as before."""
    number = secrets.randbelow(len(_ALPHABET) ** length)
    characters = []
    for _ in range(length):
        number, digit = divmod(number, len(_ALPHABET))
        characters.append(_ALPHABET[digit])
    return prefix + "".join(characters)
