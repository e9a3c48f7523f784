"""bot.jsonfmt writes exactly what json.dumps(indent=2, ensure_ascii=False) writes."""

from __future__ import annotations

import enum
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.jsonfmt import indented

_SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
            | st.text())
_DOCS = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                     | st.tuples(inner, inner)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=30)


@settings(max_examples=400)
@given(_DOCS)
def test_same_text_as_the_standard_library(doc: object) -> None:
    assert indented(doc) == json.dumps(doc, indent=2, ensure_ascii=False)


def test_what_it_does_not_walk_is_written_by_the_standard_library() -> None:
    class Kind(enum.IntEnum):
        SCAN = 3

    for doc in ({1: "int key", "b": [True]}, {"k": Kind.SCAN}, {"s": "\u2028 \x00 é \"q\""}):
        assert indented(doc) == json.dumps(doc, indent=2, ensure_ascii=False)


def test_a_value_json_cannot_write_fails_as_json_fails() -> None:
    import pytest

    with pytest.raises(TypeError):
        indented({"when": object()})
