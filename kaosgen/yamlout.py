"""Canonical YAML output for plain data (dict, list, str, int, float, bool, None).

kaosgen writes tens of thousands of objects per render; ruamel's representer is too slow
for that, so output goes through this small emitter instead. It is conservative: a string
is written plain only when it cannot be read back as anything else, multi-line text uses a
literal block when that round-trips exactly, and everything else is double-quoted with
every non-printable character escaped. Tests parse the output back with ruamel.yaml and
with `kubectl kustomize` (Go yaml) and compare it to the input, so any drift fails loudly.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache

# Plain scalars: start with a letter or `/`, then a conservative character set. `: ` and
# ` #` cannot occur (no spaces allowed); a trailing `:` is excluded below.
_PLAIN_RE = re.compile(r"(?:[A-Za-z/]|\.\.?/)[A-Za-z0-9_./@+:=#-]*")
# Quantities and other digit-led words (`100m`, `1Gi`) are plain unless a resolver could
# read them as a number (`1e3`, `0x1F`, `0o17`, `0b1`).
_DIGIT_WORD_RE = re.compile(r"[0-9]+[A-Za-z][A-Za-z0-9]*")
_NUMBERISH_RE = re.compile(r"[0-9]+[eE][0-9]+|0[xXoObB][0-9A-Fa-f]+")
# Words YAML 1.1 or 1.2 resolvers read as booleans or null.
_RESERVED = frozenset(["y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf"])
_ESCAPES = {
    "\0": "\\0",
    "\x07": "\\a",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\x0b": "\\v",
    "\x0c": "\\f",
    "\r": "\\r",
    "\x1b": "\\e",
    '"': '\\"',
    "\\": "\\\\",
    "\x85": "\\N",
    "\xa0": "\\_",
    "\u2028": "\\L",
    "\u2029": "\\P",
}
# Characters that must be escaped in a double-quoted scalar.
_NEEDS_ESCAPE_RE = re.compile(
    '["\\\\\x00-\x1f\x7f-\xa0\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]'
)
# Characters that rule out a literal block (anything not printable, or line-break-like).
_NOT_LITERAL_RE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]"
)


def _escape_char(match: re.Match[str]) -> str:
    ch = match.group(0)
    esc = _ESCAPES.get(ch)
    if esc is not None:
        return esc
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def quote(text: str) -> str:
    """A double-quoted scalar that any YAML 1.1/1.2 parser reads back as `text`."""
    return '"' + _NEEDS_ESCAPE_RE.sub(_escape_char, text) + '"'


def _is_plain(text: str) -> bool:
    if _DIGIT_WORD_RE.fullmatch(text):
        return not _NUMBERISH_RE.fullmatch(text)
    return (
        bool(_PLAIN_RE.fullmatch(text)) and not text.endswith(":") and text.lower() not in _RESERVED
    )


def _literal_ok(text: str) -> bool:
    if "\n" not in text or _NOT_LITERAL_RE.search(text):
        return False
    # A line of only spaces/tabs is ambiguous with the block's indentation; so is a tab
    # at the start of a line (it is not indentation in YAML). Quote those instead.
    return all(
        not line or (line.strip() and not line.startswith("\t")) for line in text.split("\n")
    )


@lru_cache(maxsize=65536)
def _string(text: str) -> tuple[bool, str]:
    """(is_literal_block, scalar text) for a string; cached, renders repeat most strings."""
    if _literal_ok(text):
        return True, ""
    return False, text if _is_plain(text) else quote(text)


def scalar(value: object) -> str:
    if type(value) is str:
        literal, text = _string(value)
        if not literal:
            return text
        return quote(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        return text if ("." in text or "e" in text) else text + ".0"
    if isinstance(value, str):
        return value if _is_plain(value) else quote(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _literal(text: str, indent: str) -> list[str]:
    """Lines of a literal block scalar (header first) for text known to be literal-safe."""
    if text.endswith("\n\n") or text == "\n":
        chomp = "+"
    elif text.endswith("\n"):
        chomp = ""
    else:
        chomp = "-"
    body = text[:-1] if text.endswith("\n") else text
    if chomp == "+":
        body = text[:-1]
    header = "|"
    if text.startswith((" ", "\n")):
        header += "2"
    header += chomp
    block_indent = indent + "  "
    lines = [block_indent + line if line else "" for line in body.split("\n")]
    return [header, *lines]


#: Ids of containers shared by several objects being written (see `sharing`), and the text
#: written for each (by indentation).
_SHARED: set[int] | frozenset[int] = frozenset()
_MEMO: dict[tuple[int, str], str] = {}


@contextlib.contextmanager
def sharing(ids: set[int], memo: dict[tuple[int, str], str] | None = None) -> Iterator[None]:
    """While writing objects that share the containers `ids` (the same dict or list in
    several objects, unchanged), write each once per indentation and reuse the text
    (kept in `memo` when given, for later writes of the same objects). The containers
    must not change meanwhile."""
    global _SHARED, _MEMO
    saved = _SHARED, _MEMO
    _SHARED, _MEMO = ids, ({} if memo is None else memo)
    try:
        yield
    finally:
        _SHARED, _MEMO = saved


def _emit(value: object, indent: str, out: list[str]) -> None:
    """Append `value` as a block node whose parent line is already written."""
    if value:
        _node(value, indent, out)  # shared containers written once (see `sharing`)
    else:
        _emit_node(value, indent, out)


def _emit_node(value: object, indent: str, out: list[str]) -> None:
    if isinstance(value, dict):
        if not value:
            out[-1] += " {}"
            return
        for key, item in value.items():
            _emit_entry(indent + scalar(key) + ":", item, indent, out)
    elif isinstance(value, list):
        if not value:
            out[-1] += " []"
            return
        for item in value:
            _emit_entry(indent + "-", item, indent, out, in_seq=True)
    else:
        raise AssertionError("scalars are written by _emit_entry")


def _emit_entry(head: str, item: object, indent: str, out: list[str], in_seq: bool = False) -> None:
    if isinstance(item, dict) and item:
        if in_seq:
            # `- key: value` with the mapping's other keys aligned under the first.
            first = True
            sub = indent + "  "
            for key, val in item.items():
                prefix = (head + " ") if first else sub
                _emit_entry(prefix + scalar(key) + ":", val, sub, out)
                first = False
        else:
            out.append(head)
            _emit(item, indent + "  ", out)
    elif isinstance(item, list) and item:
        out.append(head)
        # Kubernetes style: sequence items at the same indentation as the parent key.
        _emit(item, indent if not in_seq else indent + "  ", out)
    elif type(item) is str:
        literal, text = _string(item)
        if literal:
            lines = _literal(item, indent)
            out.append(head + " " + lines[0])
            out.extend(lines[1:])
        else:
            out.append(head + " " + text)
    elif isinstance(item, dict):
        out.append(head + " {}")
    elif isinstance(item, list):
        out.append(head + " []")
    else:
        out.append(head + " " + scalar(item))


# --- the fast path -------------------------------------------------------------------
# The same output as `_emit`, for the plain dicts, lists, strings and ints that make up
# nearly every object: one call per container instead of one per entry, and the text of
# keys and strings looked up in dicts. Anything else goes through `_emit_entry`.

#: Scalar text of strings (`_LIT`: written as a literal block) and `key:` text of keys.
_TEXT: dict[str, str] = {}
_KEYS: dict[str, str] = {}
_LIT = "\n"  # never the text of a scalar (a newline is escaped or in a block)
_CACHE_LIMIT = 1 << 18


def _text(value: str) -> str:
    literal, text = _string(value)
    if len(_TEXT) >= _CACHE_LIMIT:
        _TEXT.clear()
    text = _TEXT[value] = _LIT if literal else text
    return text


def _key(key: object) -> str:
    text = scalar(key) + ":"
    if type(key) is str:
        if len(_KEYS) >= _CACHE_LIMIT:
            _KEYS.clear()
        _KEYS[key] = text
    return text


def _node(value: object, indent: str, out: list[str]) -> None:
    """`_emit` for a non-empty container."""
    if id(value) in _SHARED:
        key = (id(value), indent)
        text = _MEMO.get(key)
        if text is None:
            lines: list[str] = []
            _node_body(value, indent, lines)
            text = _MEMO[key] = "\n".join(lines)
        out.append(text)
        return
    _node_body(value, indent, out)


def _node_body(value: object, indent: str, out: list[str]) -> None:
    kind = type(value)
    if kind is dict:
        _pairs(value, indent, indent, out)  # type: ignore[arg-type]
    elif kind is list:
        _items(value, indent, out)  # type: ignore[arg-type]
    else:
        _emit_node(value, indent, out)


def _pairs(value: dict, first: str, indent: str, out: list[str]) -> None:
    """A mapping's entries at `indent`; the first key's line starts with `first` (`- `
    of a sequence item, or the indentation itself)."""
    append = out.append
    prefix = first
    for key, item in value.items():
        keytext = _KEYS.get(key) if type(key) is str else None
        if keytext is None:
            keytext = _key(key)
        head = prefix + keytext
        prefix = indent
        kind = type(item)
        if kind is str:
            text = _TEXT.get(item)
            if text is None:
                text = _text(item)
            if text is _LIT:
                lines = _literal(item, indent)
                append(head + " " + lines[0])
                out.extend(lines[1:])
            else:
                append(head + " " + text)
        elif kind is dict:
            if item:
                append(head)
                _node(item, indent + "  ", out)
            else:
                append(head + " {}")
        elif kind is list:
            if item:
                append(head)
                _node(item, indent, out)
            else:
                append(head + " []")
        elif kind is int:
            append(head + " " + str(item))
        else:
            _emit_entry(head, item, indent, out)


def _items(value: list, indent: str, out: list[str]) -> None:
    """A sequence's items at `indent` (Kubernetes style: the parent key's indentation)."""
    append = out.append
    sub = indent + "  "
    dash = indent + "- "
    for item in value:
        kind = type(item)
        if kind is dict:
            if item:
                _pairs(item, dash, sub, out)
            else:
                append(dash + "{}")
        elif kind is str:
            text = _TEXT.get(item)
            if text is None:
                text = _text(item)
            if text is _LIT:
                lines = _literal(item, indent)
                append(dash + lines[0])
                out.extend(lines[1:])
            else:
                append(dash + text)
        elif kind is list:
            if item:
                append(indent + "-")
                _node(item, sub, out)
            else:
                append(dash + "[]")
        elif kind is int:
            append(dash + str(item))
        else:
            _emit_entry(indent + "-", item, indent, out, in_seq=True)


def dump(value: object) -> str:
    """One YAML document (no `---`), ending with a newline."""
    if isinstance(value, (dict, list)) and value:
        out: list[str] = [""]
        _node(value, "", out)
        lines = out[1:]
        return "\n".join(lines) + "\n"
    if isinstance(value, str) and _literal_ok(value):
        return "\n".join(_literal(value, "")) + "\n"
    if isinstance(value, dict):
        return "{}\n"
    if isinstance(value, list):
        return "[]\n"
    return scalar(value) + "\n"


def dump_all(documents: Iterable[object], header: str = "") -> str:
    """Several documents separated by `---`, with an optional comment header on top."""
    parts = [header] if header else []
    first = True
    for doc in documents:
        if not first:
            parts.append("---\n")
        parts.append(dump(doc))
        first = False
    return "".join(parts)
