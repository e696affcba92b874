"""Public identifiers: the prefix, then 20 characters of [A-Za-z0-9], never the same twice."""

from __future__ import annotations

import re

from meetbridge.db.ids import new_id


def test_an_id_is_the_prefix_and_twenty_alphanumerics() -> None:
    made = [new_id("evt_") for _ in range(2_000)]

    assert all(re.fullmatch(r"evt_[A-Za-z0-9]{20}", id_) for id_ in made)
    assert len(set(made)) == len(made)
    # Every position draws from the whole alphabet (not, say, digits only at the end): with 2,000
    # ids each of the 62 characters shows in the first and the last position.
    assert (
        {id_[4] for id_ in made}
        == {id_[-1] for id_ in made}
        == set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    )


def test_the_length_can_be_chosen() -> None:
    assert re.fullmatch(r"tok_[A-Za-z0-9]{40}", new_id("tok_", 40))
