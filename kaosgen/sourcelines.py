"""One line of a file's text, found without splitting the whole text.

A diagnostic shows its source line; splitting a file of millions of lines (8 MB of `---`)
to show one cost seconds and a hundred MiB. Lines end where `str.splitlines` ends them,
so what is shown is what it showed.
"""

from __future__ import annotations

import re

#: The boundaries of str.splitlines (\r\n is one).
_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


class Lines:
    """`line(n)` of a text (1-based), reading forward from the last line asked for:
    diagnostics come sorted, so a file is scanned about once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.number, self.start = 1, 0  # the line the cursor is at, and its offset

    def line(self, number: int) -> str | None:
        """The line without its break; None past the last line (or for number < 1)."""
        if number < 1:
            return None
        if number < self.number:
            self.number, self.start = 1, 0
        text = self.text
        while self.number < number:
            found = _BREAK.search(text, self.start)
            if found is None:
                return None
            self.number, self.start = self.number + 1, found.end()
        if self.start >= len(text):
            return None  # after the final break: splitlines has no such line
        end = _BREAK.search(text, self.start)
        return text[self.start : end.start() if end else len(text)]
