"""String-mode tool calls: the parser, whole and streamed (property-based)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kaos_runtime.tools import StringModeParser, calls_from_json, parse_string_mode


def _stream(text: str, cuts: list[int]) -> tuple[str, list]:
    parser = StringModeParser()
    points = sorted({c % (len(text) + 1) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    visible = "".join(parser.feed(p) for p in pieces) + parser.finish()
    return visible, parser.calls


def _calls(calls) -> list[tuple[str, dict]]:
    return [(c.name, json.loads(c.arguments)) for c in calls]


@pytest.mark.parametrize(
    ("text", "visible", "calls"),
    [
        ("Plain answer.", "Plain answer.", []),
        (
            'Sure.\n```json\n{"tool": "add", "arguments": {"a": 1}}\n```\n',
            "Sure.\n\n",
            [("add", {"a": 1})],
        ),
        ('{"tool": "add", "arguments": {"a": 1}}', "", [("add", {"a": 1})]),
        (
            '```tool_call\n{"tool": "echo", "arguments": {"text": "hi"}}\n```',
            "",
            [("echo", {"text": "hi"})],
        ),
        ('```json {"tool": "x", "arguments": {}}```', "", [("x", {})]),
        ('```json\n{"tool": "x", "arguments": {"k": 1,},}', "", [("x", {"k": 1})]),
        (
            '```json\n[{"tool": "a", "arguments": {}}, {"name": "b", "arguments": {"q": 2}}]\n```',
            "",
            [("a", {}), ("b", {"q": 2})],
        ),
        ('```json\n{"tool": "a", "arguments": "{\\"z\\": 3}"}\n```', "", [("a", {"z": 3})]),
        ('```json\n{"a": 1}\n```\nok', '```json\n{"a": 1}\n```\nok', []),
        ('{"name": "Ann", "age": 3}', '{"name": "Ann", "age": 3}', []),
        (
            "Code:\n```python\nprint('```')\n```\nDone `x`",
            "Code:\n```python\nprint('```')\n```\nDone `x`",
            [],
        ),
    ],
)
def test_parse_string_mode(text, visible, calls):
    got_visible, got_calls = parse_string_mode(text)
    assert got_visible == visible
    assert _calls(got_calls) == calls


def test_non_call_json_is_not_a_call():
    assert calls_from_json('{"tool": 5}') == []
    assert calls_from_json("[1, 2]") == []
    assert calls_from_json("not json") == []


_plain = st.text(alphabet=st.characters(blacklist_characters="`{["), max_size=60)
_args = st.dictionaries(
    st.text(min_size=1, max_size=5), st.integers() | st.text(max_size=8), max_size=3
)


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(max_size=120), cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=12)
)
def test_streaming_in_any_chunks_equals_parsing_the_whole_text(text, cuts):
    whole_visible, whole_calls = parse_string_mode(text)
    visible, calls = _stream(text, cuts)
    assert visible == whole_visible
    assert _calls(calls) == _calls(whole_calls)


#: Any tool name MCP allows (a string), fences and JSON syntax included.
_names = st.text(min_size=1, max_size=16) | st.sampled_from(["```", "a```b", "`", "``", '"}```'])
_values = st.integers() | st.text(max_size=12) | st.sampled_from(["```", "\n```\n", "}```"])
_any_args = st.dictionaries(st.text(min_size=1, max_size=6), _values, max_size=3)


def _fenced_call(name: str, args: dict, ascii_only: bool, indent: int | None) -> str:
    call = json.dumps({"tool": name, "arguments": args}, ensure_ascii=ascii_only, indent=indent)
    return "```json\n" + call + "\n```"


@settings(max_examples=300, deadline=None)
@given(
    before=_plain.filter(lambda s: s.strip()),
    after=_plain,
    name=_names,
    args=_any_args,
    ascii_only=st.booleans(),
    indent=st.none() | st.just(2),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=12),
)
def test_a_fenced_call_anywhere_is_found_and_hidden(
    before, after, name, args, ascii_only, indent, cuts
):
    block = _fenced_call(name, args, ascii_only, indent)
    visible, calls = _stream(before + block + after, cuts)
    assert _calls(calls) == [(name, args)]
    assert visible == before + after


@settings(max_examples=200, deadline=None)
@given(
    names=st.lists(_names, min_size=1, max_size=3),
    between=_plain,
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
)
def test_several_calls_with_any_names_are_all_found(names, between, cuts):
    blocks = [_fenced_call(name, {"i": i}, False, None) for i, name in enumerate(names)]
    visible, calls = _stream("Calling.\n" + between.join(blocks) + "\nDone.", cuts)
    assert _calls(calls) == [(name, {"i": i}) for i, name in enumerate(names)]
    assert visible == "Calling.\n" + between * (len(names) - 1) + "\nDone."


@pytest.mark.parametrize("name", ["```", "a```b", "x`", "```json", "}```", "tool\nname", "名前```"])
def test_fence_characters_in_a_name_on_one_line_or_bare(name):
    call = json.dumps({"tool": name, "arguments": {"q": "```"}})
    for text in (f"```json {call}```", f"```{call}```", call, f"```json\n{call}\n```"):
        visible, calls = parse_string_mode(text)
        assert _calls(calls) == [(name, {"q": "```"})], text
        assert visible == "", text


def test_a_block_that_is_not_json_closes_at_the_next_fence():
    # An unterminated string cannot be a call: the next fence closes the block as usual.
    text = '```json\n{"a": "unterminated\n```\nok ```json\n{"tool": "t", "arguments": {}}\n```'
    visible, calls = parse_string_mode(text)
    assert _calls(calls) == [("t", {})]
    assert visible == '```json\n{"a": "unterminated\n```\nok '


@settings(max_examples=100, deadline=None)
@given(text=_plain, cuts=st.lists(st.integers(min_value=0, max_value=100), max_size=8))
def test_text_without_fences_streams_through_unchanged(text, cuts):
    if text.strip().startswith(("{", "[")):
        return
    assert _stream(text, cuts) == (text, [])


def test_the_prompt_lists_unusual_names_as_json_strings():
    from kaos_runtime.tools import Tool, string_mode_prompt

    async def call(arguments, ctx):  # pragma: no cover - never called
        raise AssertionError

    schema = {"type": "object", "properties": {}}
    tools = [
        Tool("add", "Adds.", schema, "mcp", "calc", call),
        Tool("a```b\nc", "Odd\nname.", schema, "mcp", "calc", call),
    ]
    lines = string_mode_prompt(tools).splitlines()
    assert "- add: Adds. Arguments: {}" in lines
    assert '- "a```b\\nc": Odd name. Arguments: {}' in lines


def _tokens(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@pytest.mark.parametrize(
    "reply",
    [
        "{" + "a" * 1_000_000,  # a bare JSON-looking reply, held to the end to be read
        '```json\n{"tool": "echo", "arguments": {"text": "' + "a" * 1_000_000,
        "```python" + "a" * 1_000_000,  # a fence line that never ends
    ],
    ids=["bare", "fenced", "fence-line"],
)
def test_a_megabyte_held_back_costs_milliseconds_not_minutes(reply):
    """What may be a tool call is held back and searched again with every token: a reply
    of a megabyte held whole cost 27 s of CPU (the event loop's). Past 64 KiB it is no
    call: it is shown as text, and the rest streams through."""
    import time

    parser = StringModeParser()
    started = time.process_time()
    visible = "".join(parser.feed(token) for token in _tokens(reply)) + parser.finish()
    elapsed = time.process_time() - started
    assert visible == reply and parser.calls == []
    assert elapsed < 3.0, f"{elapsed:.2f}s of CPU"


def test_a_block_over_64_kib_is_text_whole_and_streamed_and_a_small_one_still_a_call():
    big = '```json\n{"tool": "echo", "arguments": {"text": "' + "x" * 70_000 + '"}}\n```'
    assert parse_string_mode(big) == (big, [])
    assert _stream(big, list(range(0, len(big), 7))) == (big, [])
    small = '```json\n{"tool": "echo", "arguments": {"text": "hi"}}\n```' + "y" * 100_000
    for visible, calls in (parse_string_mode(small), _stream(small, [10, 50, 70_000])):
        assert visible == "y" * 100_000
        assert _calls(calls) == [("echo", {"text": "hi"})]
