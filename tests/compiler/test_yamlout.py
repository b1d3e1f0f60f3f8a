"""The canonical emitter must read back exactly, with ruamel (YAML 1.2) and any text."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from kaosgen import yamlout

_yaml = YAML(typ="safe", pure=True)

keys = st.text(min_size=1, max_size=12)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.text(max_size=40),
    st.sampled_from(
        [
            "yes",
            "No",
            "on",
            "null",
            "~",
            "0x1F",
            "1e3",
            "0o17",
            "- x",
            "a: b",
            "#c",
            "x #y",
            "{{ v }}",
            "---",
            "...",
            "|",
            ">",
            "@a",
            "`b",
            "%TAG",
            "\n",
            "\n\n",
            " a\n b",
            "a\n",
            "a\n\n",
            "\ta\n",
            "a \nb",
            "\u2028",
            "\x85",
            "\ufeff",
            "2001-01-01",
            ".inf",
            "1_000",
            "=",
            "<<",
            "!tag",
            "&a",
            "*a",
            "'q'",
            '"dq"',
            "a:",
            "key: |\n  x",
            "\r\n",
            "é\n✓",
        ]
    ),
)
data = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=20,
)


def load(text: str):
    return _yaml.load(io.StringIO(text))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, data, max_size=5))
def test_round_trips_through_ruamel(doc):
    assert load(yamlout.dump(doc)) == doc


@settings(max_examples=200, deadline=None)
@given(data)
def test_any_top_level_value_round_trips(value):
    assert load(yamlout.dump(value)) == value


def test_multiline_text_is_a_literal_block():
    text = yamlout.dump({"instructions": "You are helpful.\nAnswer briefly.\n"})
    assert text == "instructions: |\n  You are helpful.\n  Answer briefly.\n"


def test_kubernetes_style_layout():
    doc = {"spec": {"containers": [{"name": "agent", "ports": [{"containerPort": 8000}]}]}}
    assert yamlout.dump(doc) == (
        "spec:\n  containers:\n  - name: agent\n    ports:\n    - containerPort: 8000\n"
    )


def test_ambiguous_words_are_quoted():
    assert yamlout.dump({"a": "yes", "b": "8000", "c": "true", "d": "null"}) == (
        'a: "yes"\nb: "8000"\nc: "true"\nd: "null"\n'
    )


class _Mapping(dict):
    """A dict subclass: written by the generic path, not the fast one."""


class _Sequence(list):
    pass


def _generic_dump(value) -> str:
    """The reference: every entry through the generic `_emit_entry`."""
    out = [""]
    yamlout._emit(value, "", out)
    return "\n".join(out[1:]) + "\n"


def _subclassed(value):
    """The same data with every container a subclass (the generic path all the way)."""
    if isinstance(value, dict):
        return _Mapping((k, _subclassed(v)) for k, v in value.items())
    if isinstance(value, list):
        return _Sequence(_subclassed(v) for v in value)
    return value


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, data, min_size=1, max_size=5))
def test_fast_path_writes_what_the_generic_path_writes(doc):
    """`dump` takes a fast path for plain dicts, lists, strings and ints; it must write
    byte for byte what the generic path writes, mixed with subclasses and shared
    containers (written once per indentation and reused) too."""
    reference = _generic_dump(_subclassed(doc))
    assert yamlout.dump(doc) == reference
    mixed = {"plain": doc, "subclassed": _subclassed(doc), "again": doc, "list": [doc, doc]}
    shared = {id(v) for v in doc.values() if isinstance(v, (dict, list)) and v} | {id(doc)}
    with yamlout.sharing(shared):
        assert yamlout.dump(mixed) == _generic_dump(_subclassed(mixed))
