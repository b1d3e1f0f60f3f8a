"""`sourcelines.Lines` finds the line `str.splitlines` would, in any order of asking."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kaosgen.sourcelines import Lines

TEXT = st.lists(st.sampled_from(["a", " ", "\n", "\r", "\r\n", "\x0c", "\x85", "\u2028"])).map(
    "".join
)


@given(TEXT, st.lists(st.integers(min_value=-1, max_value=12), max_size=8))
def test_lines_are_those_of_splitlines(text: str, asked: list[int]) -> None:
    expected = text.splitlines()
    lines = Lines(text)
    for number in asked:
        want = expected[number - 1] if 0 < number <= len(expected) else None
        assert lines.line(number) == want
