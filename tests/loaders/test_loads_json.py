"""`loaders.base.loads_json` reads with orjson and falls back to the json module: the value and
the error of every text are the json module's, deep nesting a JSONDecodeError."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loaders.base import loads_json

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(_JSON)
def test_any_document_reads_as_the_json_module_reads_it(value: object) -> None:
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
        assert loads_json(text) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    ['{"n": NaN}', '{"big": 123456789012345678901234567890}', '"\\ud800"', '{"a": 1, "a": 2}', "[1e400]", '{"id": "s1"}'],
)
def test_texts_only_the_json_module_takes_read_the_same(text: str) -> None:
    got, want = loads_json(text), json.loads(text)
    assert repr(got) == repr(want)


@pytest.mark.parametrize("text", ['{"id": "s1",}', "{'id': 1}", '{"id": "s1"', "", "[" * 100_000 + "]" * 100_000])
def test_malformed_and_too_deep_texts_are_json_decode_errors(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as err:
        loads_json(text)
    if text.startswith("[["):
        assert err.value.msg == "nested too deeply to read"
    else:
        with pytest.raises(json.JSONDecodeError) as std:
            json.loads(text)
        assert err.value.msg == std.value.msg and err.value.pos == std.value.pos
