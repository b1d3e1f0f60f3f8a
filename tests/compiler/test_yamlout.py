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
