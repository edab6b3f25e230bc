"""`api.limits.parse_json_body` reads with orjson first: the value is always the json module's.

orjson reads an integer past 64 bits as a float and refuses what the json module accepts
(lone surrogate escapes); such bodies are read again by the json module, so the value, and
every refusal's words, are as before.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.limits import RequestRefused, parse_json_body

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), VALUES, max_size=4))
def test_the_value_is_the_json_modules(body: dict[str, Any]) -> None:
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    got = parse_json_body(raw, 64, 5000)
    assert got == json.loads(raw)
    assert json.dumps(got, sort_keys=True) == json.dumps(json.loads(raw), sort_keys=True)  # ints stay ints


def test_big_integers_stay_integers() -> None:
    got = parse_json_body(b'{"a": 123456789012345678901234567890, "b": [18446744073709551616]}', 8)
    assert got == {"a": 123456789012345678901234567890, "b": [18446744073709551616]}
    assert type(got["a"]) is int and type(got["b"][0]) is int


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"a": "\\ud800"}', "lone surrogate"),
        (b'{"a": NaN}', "is not valid JSON"),
        (b'{"a": "\xff"}', "is not valid UTF-8"),
        (b'{"a": ' * 70 + b"1" + b"}" * 70, "nested deeper than 64"),
        (b'{"a": [1, 2, 3]}', "at most 2 items"),
    ],
)
def test_refusals_keep_their_words(raw: bytes, message: str) -> None:
    with pytest.raises(RequestRefused) as err:
        parse_json_body(raw, 64, 2)
    assert message in err.value.message
