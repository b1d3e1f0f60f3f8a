"""Compiler-style diagnostics: `path:line:col: error: message [rule-id]`.

Every problem kaosgen finds in user input becomes a `Diagnostic`; nothing raises out of
the pipeline for bad input. Diagnostics are collected across all passes so one run reports
everything, then formatted for people (text with the source line), tools (JSON) or
GitHub Actions (workflow annotations).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from kaosgen.sourcelines import Lines

#: The warning and note rules, which kaosgen.yaml's `diagnostics.ignore` may turn off.
#: (A test holds this list to the rules the compiler reports.)
SILENCEABLE_RULES = frozenset(
    {
        "annotation-value",
        "autoscaling-replicas",
        "callers-no-policies",
        "delegation-cycle",
        "deprecated-field",
        "egress-metadata",
        "egress-no-policies",
        "env-override",
        "gateway-plaintext",
        "gateway-route-unused",
        "gitops-health-check",
        "gitops-name-shared",
        "gitops-path",
        "gitops-source-name",
        "label-reserved",
        "mcp-stateful-replicas",
        "memory-replicas",
        "model-size-unknown",
        "model-storage",
        "no-environments",
        "pod-security",
        "resources-default-limits",
        "route-unauthenticated",
        "secret-in-env",
        "secret-in-output",
        "telemetry-unsupported",
    }
)


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    #: Something kaosgen did for the user that they should know about; never fails a run.
    NOTE = "note"


@dataclass(frozen=True, order=True)
class Location:
    """A 1-based line and column in a file (0 means unknown)."""

    path: str
    line: int = 0
    column: int = 0


@dataclass(frozen=True)
class Diagnostic:
    severity: Severity
    rule: str
    message: str
    location: Location
    hint: str = ""

    def sort_key(self) -> tuple:
        return (
            self.location.path,
            self.location.line,
            self.location.column,
            self.rule,
            self.message,
        )

    def to_dict(self) -> dict:
        return {
            "severity": self.severity.value,
            "rule": self.rule,
            "message": self.message,
            "hint": self.hint,
            "file": self.location.path,
            "line": self.location.line,
            "column": self.location.column,
        }


@dataclass
class Diagnostics:
    """An ordered, de-duplicated collection that every pass appends to."""

    items: list[Diagnostic] = field(default_factory=list)
    _seen: set = field(default_factory=set, repr=False)

    def add(
        self,
        severity: Severity,
        rule: str,
        message: str,
        location: Location,
        hint: str = "",
    ) -> None:
        diag = Diagnostic(severity, rule, message, location, hint)
        key = (diag.severity, diag.rule, diag.message, diag.location)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(diag)

    def error(self, rule: str, message: str, location: Location, hint: str = "") -> None:
        self.add(Severity.ERROR, rule, message, location, hint)

    def warning(self, rule: str, message: str, location: Location, hint: str = "") -> None:
        self.add(Severity.WARNING, rule, message, location, hint)

    def note(self, rule: str, message: str, location: Location, hint: str = "") -> None:
        self.add(Severity.NOTE, rule, message, location, hint)

    def extend(self, other: Diagnostics) -> None:
        for d in other.items:
            self.add(d.severity, d.rule, d.message, d.location, d.hint)

    def retain(self, keep: Callable[[int, Diagnostic], bool]) -> None:
        """Keep only the diagnostics `keep(index, diagnostic)` accepts."""
        self.items = [d for i, d in enumerate(self.items) if keep(i, d)]
        self._seen = {(d.severity, d.rule, d.message, d.location) for d in self.items}

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.WARNING]

    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=Diagnostic.sort_key)


def format_text(
    diags: list[Diagnostic], sources: dict[str, str] | None = None, color: bool = False
) -> str:
    """Render like a compiler: the message, then the offending line with a caret."""
    sources = sources or {}
    out: list[str] = []
    line_cache: dict[str, Lines] = {}
    for d in diags:
        loc = d.location
        where = _escaped(loc.path)
        if loc.line:
            where += f":{loc.line}:{loc.column or 1}"
        sev = d.severity.value
        if color:
            sev = _COLORS[d.severity] + sev + "\x1b[0m"
        out.append(f"{where}: {sev}: {d.message} [{d.rule}]")
        text = sources.get(loc.path)
        if text is not None and loc.line:
            lines = line_cache.get(loc.path)
            if lines is None:
                lines = line_cache[loc.path] = Lines(text)
            line = lines.line(loc.line)
            if line is not None:
                src, column = _clip(_shown(line.expandtabs(1)), loc.column)
                out.append(f"  {loc.line:>4} | {src}")
                out.append("       | " + " " * max(column - 1, 0) + "^")
        if d.hint:
            out.append(f"       = help: {d.hint}")
    if diags:
        n_err, n_warn, n_note = _counts(diags)
        notes = f", {n_note} note(s)" if n_note else ""
        out.append(f"{n_err} error(s), {n_warn} warning(s){notes}")
    return "\n".join(out)


#: Characters that would end a line or drive the terminal (C0, DEL, C1, line separators).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(text: str) -> str:
    """A file name as an escape where it holds a control character: a name with a
    newline or an ESC cannot forge a diagnostic line or recolour the terminal."""
    return _CONTROL.sub(
        lambda m: (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )


def _shown(line: str) -> str:
    """A source line with each control character shown as U+FFFD (one for one, so the
    caret's column stays right)."""
    return _CONTROL.sub("\ufffd", line)


#: Longest source line shown under a diagnostic; longer ones (minified or hostile files)
#: are cut to a window around the column, so output stays proportional to the problems.
_SHOWN_WIDTH = 120


def _clip(line: str, column: int) -> tuple[str, int]:
    """The part of `line` around `column` that fits _SHOWN_WIDTH, and the new column."""
    if len(line) <= _SHOWN_WIDTH:
        return line, column
    start = max(0, min(column - 1 - _SHOWN_WIDTH // 2, len(line) - _SHOWN_WIDTH))
    text = line[start : start + _SHOWN_WIDTH]
    head = "..." if start > 0 else ""
    tail = "..." if start + _SHOWN_WIDTH < len(line) else ""
    return head + text + tail, column - start + len(head)


_COLORS = {
    Severity.ERROR: "\x1b[1;31m",
    Severity.WARNING: "\x1b[1;33m",
    Severity.NOTE: "\x1b[1;36m",
}


def _counts(diags: list[Diagnostic]) -> tuple[int, int, int]:
    return tuple(sum(1 for d in diags if d.severity is s) for s in Severity)  # type: ignore[return-value]


def format_json(diags: list[Diagnostic]) -> str:
    errors, warnings, notes = _counts(diags)
    return json.dumps(
        {
            "errors": errors,
            "warnings": warnings,
            "notes": notes,
            "diagnostics": [d.to_dict() for d in diags],
        },
        indent=2,
        ensure_ascii=False,
    )


def _gh_escape(value: str, *, prop: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


def format_github(diags: list[Diagnostic]) -> str:
    """GitHub Actions workflow commands: `::error file=F,line=L,col=C,title=R::message`."""
    out = []
    for d in diags:
        loc = d.location
        props = [f"file={_gh_escape(loc.path, prop=True)}"]
        if loc.line:
            props.append(f"line={loc.line}")
            props.append(f"col={loc.column or 1}")
        props.append(f"title={_gh_escape('kaosgen ' + d.rule, prop=True)}")
        message = d.message + (f" (help: {d.hint})" if d.hint else "")
        command = "notice" if d.severity is Severity.NOTE else d.severity.value
        out.append(f"::{command} {','.join(props)}::{_gh_escape(message)}")
    return "\n".join(out)


def format_diagnostics(
    diags: list[Diagnostic], fmt: str, sources: dict[str, str] | None = None, color: bool = False
) -> str:
    if fmt == "json":
        return format_json(diags)
    if fmt == "github":
        return format_github(diags)
    return format_text(diags, sources, color)
