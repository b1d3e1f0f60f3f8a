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
            # numbers to kubectl (go-yaml), and to kaosgen's loader, not to YAML 1.2
            "0755",
            "0B11",
            "0X1F",
            "0O17",
            "08",
            "1e3_",
            "+12",
            ".5",
            "0x_1F",
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


_GO_WORDS = ["0755", "0B11", "0X1F", "0O17", "08", "1e3_", "+12", ".5", "0x_1F", "0b1_0", "-0"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, data, max_size=5))
def test_round_trips_through_kaosgens_loader(doc):
    """kaosgen reads its inputs as kubectl does (`0755` is 493): what it writes, it and
    kubectl read back the same."""
    from kaosgen.diagnostics import Diagnostics
    from kaosgen.source import parse_text

    diags = Diagnostics()
    docs = parse_text("x.yaml", yamlout.dump({"d": doc}), diags)
    # (Characters kustomize cannot carry are reported, and read all the same.)
    assert all(d.rule == "unsupported-character" for d in diags.items)
    assert docs[0].data == {"d": doc}


def test_kubectl_reads_back_what_is_written(tmp_path):
    """Strings go-yaml would read as numbers are quoted; numbers come back as numbers."""
    import json

    from support.compiler import build_overlay

    data = {f"s{i}": word for i, word in enumerate(_GO_WORDS)}
    numbers = {"a": 493, "b": -31, "c": 1.5, "d": 1e20, "e": 0}
    obj = {
        "apiVersion": "example.com/v1",
        "kind": "Thing",
        "metadata": {"name": "t"},
        "data": data,
        "numbers": numbers,
    }
    (tmp_path / "t.yaml").write_text(yamlout.dump(obj), encoding="utf-8")
    (tmp_path / "kustomization.yaml").write_text("resources: [t.yaml]\n", encoding="utf-8")
    (built,) = build_overlay(tmp_path)
    assert json.dumps(built, sort_keys=True) == json.dumps(obj, sort_keys=True)
