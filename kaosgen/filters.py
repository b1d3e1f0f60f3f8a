"""What reaches the user of the diagnostics the passes collected.

Two filters run after the check pass: diagnostics that only follow from a document's
invalid fields are muted (`mute_cascades`), and the warning and note rules a project
turned off in kaosgen.yaml are dropped (`apply_ignores`).
"""

from __future__ import annotations

import bisect
import difflib

from kaosgen.diagnostics import SILENCEABLE_RULES, Diagnostics, Location, Severity
from kaosgen.project import LoadedProject
from kaosgen.source import Document

#: Errors the later passes report for a document with schema errors: references and
#: names, which read values that were valid. Completeness checks (a Proxy ModelAPI needs
#: models, ...) would only repeat a dropped field's error in other words.
_KEPT_FOR_BROKEN_DOCUMENTS = (
    "ref-",
    "model-unsupported",
    "name-",
    "duplicate-resource",
    "self-delegation",
    "inline-api-key",
    "label-invalid",
)


def mute_cascades(documents: list[Document], diags: Diagnostics, since: int) -> None:
    """Drop what the resolve and check passes derived from a document's invalid fields.

    A document with schema errors is checked without its invalid fields (so a wrong
    reference shows in the same run as a typo), and a default standing in for a dropped
    field can cause a message that is not the user's problem (`type: Redis` would warn
    about local memory). Its other diagnostics come once it is valid.
    """
    starts: dict[str, list[int]] = {}
    for doc in documents:
        starts.setdefault(doc.path, []).append(doc.line)
    for lines in starts.values():
        lines.sort()

    def document_of(loc: Location) -> tuple[str, int]:
        lines = starts.get(loc.path, [])
        return loc.path, lines[max(bisect.bisect_right(lines, loc.line) - 1, 0)] if lines else 0

    broken = {document_of(d.location) for d in diags.items[:since] if d.severity is Severity.ERROR}
    if broken:
        diags.retain(
            lambda i, d: (
                i < since
                or document_of(d.location) not in broken
                or (d.severity is Severity.ERROR and d.rule.startswith(_KEPT_FOR_BROKEN_DOCUMENTS))
            )
        )


def apply_ignores(loaded: LoadedProject, diags: Diagnostics) -> None:
    """Drop the warnings and notes of the rules kaosgen.yaml turns off (`diagnostics.ignore`);
    an id that is not such a rule is an error at its entry."""
    ignored = set()
    for i, rule in enumerate(loaded.project.diagnostics.ignore):
        if rule in SILENCEABLE_RULES:
            ignored.add(rule)
            continue
        close = difflib.get_close_matches(rule, sorted(SILENCEABLE_RULES), n=1)
        location = (
            loaded.document.location(("diagnostics", "ignore", i))
            if loaded.document
            else Location(str(loaded.path))
        )
        diags.error(
            "diagnostics-ignore",
            f"{rule!r} is not a warning or note rule (errors cannot be turned off)",
            location,
            hint=f"did you mean {close[0]!r}?"
            if close
            else f"rules that can be turned off: {', '.join(sorted(SILENCEABLE_RULES))}",
        )
    if ignored:
        diags.retain(lambda _, d: d.severity is Severity.ERROR or d.rule not in ignored)
