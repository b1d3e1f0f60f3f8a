"""Load YAML files into plain data that remembers where every value came from.

The load pass of the pipeline. libyaml (through ruamel's C parser) builds the node
graph quickly; this module turns nodes into plain dicts/lists/scalars and records the
line and column of every key and value, so that later passes (schema, cross-references)
can point at the exact place in the user's file.
"""

from __future__ import annotations

import errno
import gc
import math
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kaosgen.binary import BINARY_TAG, binary_text
from kaosgen.diagnostics import Diagnostics, Location
from kaosgen.limits import (
    INT64_MAX,
    INT64_MIN,
    MAX_ALIAS_EXPANSION,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_FILE_DIAGNOSTICS,
    MAX_FILE_DOCUMENTS,
    describe_bytes,
)

YAML_SUFFIXES = (".yaml", ".yml")
PROJECT_FILE = "kaosgen.yaml"
#: The input name `-` (read documents from standard input) and how diagnostics show it.
STDIN_ARG = "-"
STDIN = "<stdin>"

#: A path inside a document: keys and list indexes from the root.
DocPath = tuple[str | int, ...]


@dataclass
class Document:
    """One YAML document of a file, as plain data plus a position map."""

    path: str
    index: int  # position of the document in its file (0-based)
    data: Any
    values: dict[DocPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[DocPath, tuple[int, int]] = field(default_factory=dict)
    line: int = 1  # where the document starts
    text: str = field(default="", repr=False)  # the whole file, for positions inside scalars
    #: Whether the document holds a float (kustomize prints integral ones as integers:
    #: hydrate looks for them only when some document has one).
    floats: bool = False

    def location(self, path: DocPath = (), *, key: bool = False) -> Location:
        """Where `path` is; falls back to the nearest ancestor that exists in the file."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            pos = table.get(probe) or self.values.get(probe)
            if pos:
                return Location(self.path, pos[0], pos[1])
            probe = probe[:-1]
        return Location(self.path, self.line, 1)

    def position_in_scalar(self, path: DocPath, line: int, column: int) -> Location:
        """Where (line, column) of the string value at `path` is in the file (1-based).

        Exact for literal block scalars (`|`) and for single-line plain or quoted scalars
        whose text appears verbatim in the file; otherwise the start of the value.
        """
        start = self.location(path)
        lines = self.text.split("\n")
        value = self.value_at(path)
        if not isinstance(value, str) or not 0 < start.line <= len(lines) or start.column < 1:
            return start
        source_lines = value.split("\n")
        if not 0 < line <= len(source_lines):
            return start
        wanted = source_lines[line - 1]
        head = lines[start.line - 1][start.column - 1 :]
        if head.startswith("|"):
            file_line = start.line + line
            content = [
                ln for ln in lines[start.line : start.line + len(source_lines)] if ln.strip()
            ]
            if not content or file_line > len(lines):
                return start
            indent = len(content[0]) - len(content[0].lstrip(" "))
            if lines[file_line - 1].rstrip("\r")[indent:] != wanted:
                return start
            return Location(self.path, file_line, indent + max(column, 1))
        if len(source_lines) == 1:
            quote = 1 if head[:1] in ("'", '"') else 0
            if head[quote : quote + len(wanted)] == wanted:
                return Location(self.path, start.line, start.column + quote + max(column, 1) - 1)
        return start

    def value_at(self, path: DocPath) -> Any:
        """The data at `path` (None when it does not exist)."""
        value = self.data
        for part in path:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                return None
        return value

    @property
    def kind(self) -> str | None:
        return self.data.get("kind") if isinstance(self.data, dict) else None

    @property
    def api_version(self) -> str | None:
        return self.data.get("apiVersion") if isinstance(self.data, dict) else None


@dataclass
class LoadResult:
    documents: list[Document]
    sources: dict[str, str]  # path -> text, for showing offending lines
    diagnostics: Diagnostics


class _OutOfRange(int):
    """An integer too long for Python to parse (over 4,300 digits): out of range anyway."""


#: Integers as Go's strconv.ParseInt(s, 0, 64) reads them (underscores removed first):
#: what go-yaml v3, and so kubectl and kustomize, Flux and Argo CD, make of a plain scalar.
#: A leading 0 means octal (`0755` is 493), and the prefixes may be upper case.
_GO_INT = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|0[0-7]*|[1-9][0-9]*)\Z")
_GO_BASES = {"x": 16, "b": 2, "o": 8}
#: go-yaml's float syntax (tried after the integer forms).
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_SPECIAL_FLOATS = frozenset((".inf", "+.inf", "-.inf", ".nan"))


def _go_int(sign: str, digits: str) -> int:
    if len(digits) > 1 and digits[0] == "0":
        base = _GO_BASES.get(digits[1].lower(), 8)
        body = digits[2:] if base != 8 or digits[1] in "oO" else digits[1:]
    else:
        base, body = 10, digits
    try:
        value = int(body, base)
    except ValueError:  # Python's digit limit: surely out of range
        return _OutOfRange(-1 if sign == "-" else 1)
    return -value if sign == "-" else value


def _go_number(text: str) -> Any:
    """A plain scalar that starts like a number, read the way go-yaml v3 (kubectl,
    kustomize) reads it, where YAML 1.2 differs: `0755` and `0O17` are octal, `0X1F` and
    `0B11` hex and binary, underscores anywhere are ignored (`1e3_`). Not a number: the text.
    """
    plain = text.replace("_", "")
    if (match := _GO_INT.match(plain)) is not None:
        return _go_int(match.group(1), match.group(2))
    if _GO_FLOAT.match(plain):
        if plain.lstrip("+-").isdigit():  # `08`: not octal; a float 8 that kubectl prints as 8
            return _go_int(
                plain[0] if plain[0] in "+-" else "", plain.lstrip("+-").lstrip("0") or "0"
            )
        return float(plain)
    return text


def _scalar_value(node: Any, lines: list[str] | None = None) -> Any:
    """YAML 1.2 core schema, with numbers as kubectl reads them (see _go_number);
    timestamps, binary and unknown tags stay strings. `lines` (the file's) tell a
    scalar tagged in the file (`!!str 0755` stays a string)."""
    tag, text = node.tag, node.value
    if (
        not node.style  # plain
        and text[:1] in _NUMBER_START
        and text.lower() not in _SPECIAL_FLOATS
        and tag.endswith((":int", ":float", ":str"))
    ):
        value = _go_number(text)
        if type(value) is str or not tag.endswith(":str") or not _tagged(node, lines):
            return value
    if tag.endswith(":null"):
        return None
    if tag.endswith(":bool"):
        return text.lower() in ("true", "yes", "on")
    if tag.endswith(":int"):
        match = _GO_INT.match(text.replace("_", ""))
        if match is not None:
            return _go_int(match.group(1), match.group(2))
        return text
    if tag.endswith(":float"):
        low = text.lower().replace("_", "")
        if low in (".inf", "+.inf"):
            return float("inf")
        if low == "-.inf":
            return float("-inf")
        if low == ".nan":
            return float("nan")
        try:
            return float(low)
        except ValueError:
            return text
    return text


_NUMBER_START = frozenset("0123456789+-.")


def _tagged(node: Any, lines: list[str] | None) -> bool:
    """Whether the scalar carries a tag written in the file (`!!str 0755`, `&a !!str 1`)."""
    mark = node.start_mark
    if lines is None or mark.line >= len(lines):
        return False
    head = lines[mark.line][mark.column :]
    if head.startswith("&"):
        head = head.split(None, 1)[-1]
    return head.startswith("!")


def _number_problem(value: Any, text: str) -> str | None:
    """Why a number cannot be carried into a Kubernetes object (JSON), if it cannot."""
    kind = type(value)
    if kind is int:
        if INT64_MIN <= value <= INT64_MAX:
            return None
        return f"integer {value} is out of range for Kubernetes (64-bit integers: {INT64_MIN} to {INT64_MAX})"
    if kind is _OutOfRange:
        return "integer is out of range for Kubernetes (64-bit integers: at most 19 digits)"
    if kind is float and not math.isfinite(value):
        return f"{text} is not a finite number; Kubernetes (JSON) cannot carry it"
    return None


_SCALAR_TYPE_NAMES = {bool: "a boolean", type(None): "null", int: "an integer", float: "a number"}


#: Characters `kubectl kustomize` (Go YAML, as Flux and Argo CD use it) cannot carry: it
#: fails on C1 controls and U+FFFE/U+FFFF, and turns NEL (U+0085) into a space.
_KUSTOMIZE_UNSAFE = re.compile("[\x7f-\x9f\ufffe\uffff]")
#: Double-quoted escapes that could produce one of them.
_ESCAPE = re.compile(r"\\[xuUN]")


class _Builder:
    """Turns one composed node tree into data + positions, reporting duplicate keys,
    non-string keys and numbers Kubernetes cannot hold.

    Recursion is safe: `check_structure` bounded the depth, aliases included, before the
    tree was composed.
    """

    def __init__(
        self,
        path: str,
        diags: Diagnostics,
        check_chars: bool = False,
        budget: list[int] | None = None,
        lines: list[str] | None = None,
    ) -> None:
        self.path = path
        self.lines = lines
        self.floats = False
        #: The text of scalars under a `metadata.annotations` (see check_metadata).
        self.raw: dict[DocPath, str] = {}
        self.diags = diags
        self.check_chars = check_chars
        self.values: dict[DocPath, tuple[int, int]] = {}
        self.keys: dict[DocPath, tuple[int, int]] = {}
        #: Errors this file may still report (shared by its documents): a file of a
        #: million bad keys yields a hundred diagnostics and a count, not a million.
        self.budget = budget if budget is not None else [MAX_FILE_DIAGNOSTICS]

    def _at(self, node: Any) -> Location:
        return Location(self.path, node.start_mark.line + 1, node.start_mark.column + 1)

    def error(self, rule: str, message: str, location: Location, hint: str = "") -> None:
        self.budget[0] -= 1
        if self.budget[0] >= 0:
            self.diags.error(rule, message, location, hint=hint)
        elif self.budget[0] == -1:
            self.diags.error(
                "too-many-errors",
                f"more than {MAX_FILE_DIAGNOSTICS} YAML problems in this file; the rest are not shown",
                location,
                hint="fix these and run kaosgen again",
            )

    def _scalar(self, node: Any, at: DocPath = ()) -> Any:
        if node.tag == BINARY_TAG:
            return self._binary(node)
        value = _scalar_value(node, self.lines)
        if type(value) is float:
            self.floats = True
        if len(at) >= 3 and at[-3] == "metadata" and at[-2] == "annotations":
            self.raw[at] = node.value
        if type(value) is not str:
            problem = _number_problem(value, node.value)
            if problem is not None:
                self.error(
                    "number-range",
                    problem,
                    self._at(node),
                    hint="use a number Kubernetes accepts, or quote the value if it is text",
                )
        elif self.check_chars and (bad := _KUSTOMIZE_UNSAFE.search(value)):
            char = bad.group(0)
            self.error(
                "unsupported-character",
                f"text contains U+{ord(char):04X} "
                f"({'a noncharacter' if char in chr(0xFFFE) + chr(0xFFFF) else 'a control character'}), "
                "which kubectl kustomize cannot carry",
                self._at(node),
                hint="remove the character; kustomize (also in Flux and Argo CD) fails on it or changes it",
            )
        return value

    def _binary(self, node: Any) -> str:
        """`!!binary`: the text its base64 encodes, as kubectl reads it (its YAML to JSON
        conversion decodes it); base64 or bytes it cannot carry are errors here."""
        text, problem = binary_text(node.value)
        if problem is not None:
            self.error(
                "yaml-binary",
                f"!!binary value {problem}",
                self._at(node),
                hint="remove the !!binary tag and write the text itself; binary content goes "
                "base64-encoded, untagged, into a ConfigMap's binaryData or a Secret's data",
            )
            return node.value
        if self.check_chars or _KUSTOMIZE_UNSAFE.search(text):
            bad = _KUSTOMIZE_UNSAFE.search(text)
            if bad is not None:
                self.error(
                    "unsupported-character",
                    f"!!binary value decodes to text with U+{ord(bad.group(0)):04X}, which "
                    "kubectl kustomize cannot carry",
                    self._at(node),
                    hint="remove the character; kustomize (also in Flux and Argo CD) fails on it or changes it",
                )
        return text

    def _key(self, key_node: Any, at: DocPath) -> str | None:
        """A mapping key as a string; None (reported) for keys Kubernetes cannot have."""
        if key_node.id != "scalar":
            self.error("yaml-syntax", "complex mapping keys are not supported", self._at(key_node))
            return None
        if key_node.tag == BINARY_TAG:
            text, problem = binary_text(key_node.value)
            plain = f" ({text!r})" if problem is None else ""
            self.error(
                "yaml-binary",
                "a !!binary mapping key is refused by kubectl and kustomize (json: unsupported "
                "type)",
                self._at(key_node),
                hint=f"remove the !!binary tag and write the key as the text it encodes{plain}",
            )
            return None
        key = _scalar_value(key_node, self.lines)
        if isinstance(key, str):
            return key
        what = _SCALAR_TYPE_NAMES.get(type(key), "not a string")
        shown = key_node.value or "~"
        self.error(
            "yaml-key-type",
            f"mapping key {shown!r} is read as {what}, not a string",
            self._at(key_node),
            hint=f'Kubernetes keys are strings: quote it ("{shown}":)',
        )
        return None

    def _merge(self, result: dict[Any, Any], value_node: Any, at: DocPath) -> None:
        """`<<: *a` or `<<: [*a, *b]`: keys not already set, earlier mappings first."""
        sources = value_node.value if value_node.id == "sequence" else [value_node]
        for source in sources:
            if source.id != "mapping":
                self.error(
                    "yaml-syntax",
                    "a merge key (<<) takes a mapping or a list of mappings",
                    self._at(source),
                )
                continue
            for mk, mv in self.build(source, at).items():
                result.setdefault(mk, mv)

    def build(self, node: Any, at: DocPath = ()) -> Any:
        mark = node.start_mark
        self.values[at] = (mark.line + 1, mark.column + 1)
        node_id = node.id
        if node_id == "mapping":
            result: dict[Any, Any] = {}
            merges = []
            for key_node, value_node in node.value:
                if key_node.tag.endswith(":merge"):
                    merges.append(value_node)
                    continue
                key = self._key(key_node, at)
                if key is None:
                    continue
                kmark = key_node.start_mark
                if key in result:
                    self.error(
                        "yaml-duplicate-key",
                        f"duplicate key {key!r}: YAML keeps only one of them",
                        Location(self.path, kmark.line + 1, kmark.column + 1),
                        hint="remove or rename one of the two entries",
                    )
                self.keys[(*at, key)] = (kmark.line + 1, kmark.column + 1)
                result[key] = self.build(value_node, (*at, key))
            for value_node in merges:  # explicit keys win over merged ones
                self._merge(result, value_node, at)
            return result
        if node_id == "sequence":
            return [self.build(item, (*at, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, at)


_KAOS_PREFIX = "kaos.tools/"  # their labels are checked by the KAOS schema


def _own_metadata(data: dict[str, Any]) -> Iterable[tuple[DocPath, dict[str, Any]]]:
    """(path, object) for a document and, in a `kind: *List`, for each of its items."""
    yield (), data
    kind, items = data.get("kind"), data.get("items")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        for i, item in enumerate(items):
            if isinstance(item, dict):
                yield ("items", i), item


def check_metadata(data: Any, builder: _Builder) -> None:
    """Label and annotation values are strings in Kubernetes. kustomize (kubectl, Flux,
    Argo CD) writes a non-string annotation value as its text (`port: 9090` becomes
    "9090", `mode: 0755` "0755"): kaosgen does the same, with a warning, so what it
    prints itself (`kaosgen build`, hydrated shards) applies as kustomize's output does.
    A label value that is not a string kustomize leaves as it is and the API server
    rejects; so does kaosgen, as an error here, and so for any value in the pod template
    metadata of Kubernetes' workload kinds (kustomize leaves those as they are). An
    annotation value that is a list or a mapping kustomize turns into "": an error too."""
    if not isinstance(data, dict):
        return
    for base, obj in _own_metadata(data):
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            continue
        at = (*base, "metadata")
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            for key, value in annotations.items():
                if type(value) is str:
                    continue
                where = (*at, "annotations", key)
                loc = Location(builder.path, *builder.values.get(where, (1, 1)))
                if isinstance(value, (dict, list)):
                    builder.error(
                        "metadata-value",
                        f"annotation {key!r} is a {'list' if isinstance(value, list) else 'mapping'}"
                        ", not a string (kustomize would write it as an empty string)",
                        loc,
                        hint="annotation values are strings: write it as one (e.g. JSON in quotes)",
                    )
                    continue
                text = builder.raw.get(where, "")
                annotations[key] = text
                builder.diags.warning(
                    "annotation-value",
                    f"annotation {key!r} is read as {_SCALAR_TYPE_NAMES.get(type(value), 'not a string')}"
                    f", not a string; written as the string {text!r}, as kustomize writes it",
                    loc,
                    hint=f'annotation values are strings: quote it ({key}: "{text}")',
                )
        api_version = obj.get("apiVersion")
        if isinstance(api_version, str) and api_version.startswith(_KAOS_PREFIX):
            continue
        _must_be_strings(builder, meta, at, "labels")
        # A pod template's metadata kustomize leaves as it is: non-strings are rejected.
        kind = obj.get("kind")
        core = isinstance(kind, str) and _core(api_version)
        for path in _TEMPLATE_METADATA.get(kind, ()) if core else ():
            template = obj
            for part in path:
                template = template.get(part) if isinstance(template, dict) else None
            if isinstance(template, dict):
                for name in ("labels", "annotations"):
                    _must_be_strings(builder, template, (*base, *path), name)


#: Where the built-in workload kinds keep pod (and job) template metadata.
_TEMPLATE_METADATA: dict[Any, tuple[DocPath, ...]] = {
    **{
        kind: (("spec", "template", "metadata"),)
        for kind in (
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "ReplicaSet",
            "ReplicationController",
            "Job",
            "PodTemplate",
        )
    },
    "CronJob": (
        ("spec", "jobTemplate", "metadata"),
        ("spec", "jobTemplate", "spec", "template", "metadata"),
    ),
}


def _core(api_version: Any) -> bool:
    """Kubernetes' own workload groups (a custom resource may call its kind Job)."""
    return isinstance(api_version, str) and (
        api_version == "v1" or api_version.startswith(("apps/", "batch/"))
    )


def _must_be_strings(builder: _Builder, meta: dict[str, Any], at: DocPath, name: str) -> None:
    """An error at each value of `meta[name]` (labels, annotations) that is not a string."""
    values = meta.get(name)
    if not isinstance(values, dict):
        return
    noun = name[:-1]  # label, annotation
    for key, value in values.items():
        if type(value) is str:
            continue
        what = _SCALAR_TYPE_NAMES.get(type(value), "not a string")
        if isinstance(value, (dict, list)):
            what = "a list" if isinstance(value, list) else "a mapping"
        shown = "" if isinstance(value, (dict, list)) else _label_text(value)
        builder.error(
            "metadata-value",
            f"{noun} {key!r} is {what}, not a string: the API server rejects the object",
            Location(builder.path, *builder.values.get((*at, name, key), (1, 1))),
            hint=f'{noun} values are strings: quote it ({key}: "{shown}")'
            if shown
            else f"{noun} values are strings",
        )


def _label_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _yaml_parser():
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=False)
    yaml.allow_duplicate_keys = True
    return yaml


def check_structure(yaml: Any, path: str, text: str, diags: Diagnostics) -> bool:
    """Walk the parser's events (libyaml keeps its own stack: no recursion) and refuse
    what would make composing or building the documents blow up: nesting deeper than
    MAX_DEPTH, an alias inside the node it names, aliases that expand past
    MAX_ALIAS_EXPANSION. Syntax errors propagate as ruamel's exceptions.

    Per open collection the walk keeps its anchor, expanded size and height, so what an
    alias adds (size, depth) is known when the alias appears, without building anything.
    """
    from ruamel.yaml.events import (
        AliasEvent,
        DocumentStartEvent,
        MappingEndEvent,
        MappingStartEvent,
        ScalarEvent,
        SequenceEndEvent,
        SequenceStartEvent,
    )

    starts = (MappingStartEvent, SequenceStartEvent)
    ends = (MappingEndEvent, SequenceEndEvent)
    # frame: [anchor, definition serial, size, height of the children]
    stack: list[list[Any]] = []
    sizes: dict[str, tuple[int, int]] = {}  # anchor -> (size, height)
    serial: dict[str, int] = {}  # anchor -> serial of its latest definition
    open_anchors: dict[str, int] = {}
    added = 0

    def refuse(rule: str, message: str, event: Any, hint: str) -> bool:
        mark = event.start_mark
        diags.error(rule, message, Location(path, mark.line + 1, mark.column + 1), hint=hint)
        return False

    for event in yaml.parse(text):
        kind = type(event)
        if kind is ScalarEvent:
            size, height = 1 + len(event.value), 0
            if event.anchor is not None:
                open_anchors.pop(event.anchor, None)
                serial[event.anchor] = serial.get(event.anchor, 0) + 1
                sizes[event.anchor] = (size, height)
        elif kind in starts:
            if len(stack) >= MAX_DEPTH:
                return refuse(
                    "yaml-depth",
                    f"nesting deeper than {MAX_DEPTH} levels",
                    event,
                    "flatten the structure; no Kubernetes object nests this deep",
                )
            anchor = event.anchor
            number = 0
            if anchor is not None:
                number = serial[anchor] = serial.get(anchor, 0) + 1
                open_anchors[anchor] = number
            stack.append([anchor, number, 1, 0])
            continue
        elif kind in ends:
            anchor, number, size, inner = stack.pop()
            height = inner + 1
            if anchor is not None and serial.get(anchor) == number:
                sizes[anchor] = (size, height)
                open_anchors.pop(anchor, None)
        elif kind is AliasEvent:
            anchor = event.anchor
            if anchor in open_anchors:
                return refuse(
                    "yaml-alias",
                    f"alias *{anchor} refers to the node that contains it (an endless structure)",
                    event,
                    f"an alias may only repeat a node that is complete; remove *{anchor} here",
                )
            if anchor not in sizes:
                continue  # undefined: composing reports it with the parser's words
            size, height = sizes[anchor]
            added += size
            if added > MAX_ALIAS_EXPANSION:
                return refuse(
                    "yaml-alias",
                    f"aliases in this file expand to more than {MAX_ALIAS_EXPANSION:,} nodes and "
                    "characters (an alias bomb?)",
                    event,
                    "write the repeated content out, or repeat it fewer times",
                )
            if len(stack) + height > MAX_DEPTH:
                return refuse(
                    "yaml-depth",
                    f"alias *{anchor} expands to nesting deeper than {MAX_DEPTH} levels",
                    event,
                    "flatten the structure; no Kubernetes object nests this deep",
                )
        elif kind is DocumentStartEvent:
            sizes.clear()  # anchors belong to their document
            serial.clear()
            continue
        else:
            continue
        if stack:
            frame = stack[-1]
            frame[2] += size
            if height > frame[3]:
                frame[3] = height
    return True


def _offset_location(path: str, text: str, offset: int) -> Location:
    """The 1-based line and column of the character at `offset` in `text`."""
    offset = max(0, min(offset, len(text)))
    line_start = text.rfind("\n", 0, offset) + 1
    return Location(path, text.count("\n", 0, offset) + 1, offset - line_start + 1)


#: A line that starts a document (`---`) or ends one (`...`, after which another may
#: start without a marker): a file has at most one document more than these.
_DOCUMENT_MARKER = re.compile(r"^(?:---|\.\.\.)(?=[ \t\r\n]|\Z)", re.MULTILINE)


def _few_documents(path: str, text: str, diags: Diagnostics) -> bool:
    """At most MAX_FILE_DOCUMENTS documents, counted on the text before any parsing:
    2,000,000 empty documents (8 MB of `---` lines) took 31 s and 1.5 GiB to compose,
    and walking their parser events alone seconds. A marker inside a block scalar counts
    too: only a file far past the limit is refused."""
    if text.count("\n") < MAX_FILE_DOCUMENTS:
        return True
    for count, marker in enumerate(_DOCUMENT_MARKER.finditer(text), start=1):
        if count > MAX_FILE_DOCUMENTS:
            diags.error(
                "yaml-documents",
                f"more than {MAX_FILE_DOCUMENTS:,} documents in one file",
                _offset_location(path, text, marker.start()),
                hint="split it into several files (empty documents between `---` lines count too)",
            )
            return False
    return True


def parse_text(path: str, text: str, diags: Diagnostics) -> list[Document]:
    """Parse a multi-document YAML text. On a syntax error, report it and return [].

    Each file's ruamel parser is garbage in reference cycles (tens of KiB), and commands
    run with the cyclic collector off (`one_shot`): without a pass here every file's parser
    stayed until exit (20,000 small files took 1 GiB). A young-generation pass costs about
    what the file allocated, and frees them."""
    try:
        return _parse_text(path, text, diags)
    finally:
        gc.collect(0)


def _parse_text(path: str, text: str, diags: Diagnostics) -> list[Document]:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.reader import ReaderError

    if text.startswith("\ufeff"):
        text = text[1:]
    yaml = _yaml_parser()
    documents: list[Document] = []
    if not _few_documents(path, text, diags):
        return []
    try:
        if not check_structure(yaml, path, text, diags):
            return []
        nodes = list(yaml.compose_all(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if exc.problem_mark and exc.context_mark and exc.problem_mark.index >= len(text.rstrip()):
            # "unexpected end of stream": where the unfinished construct starts says more.
            mark = exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or "invalid YAML"
        if exc.context:
            problem = f"{problem} ({exc.context})"
        diags.error(
            "yaml-syntax",
            f"YAML syntax error: {problem}",
            Location(path, line, col),
            hint="fix the YAML syntax; check indentation and quotes around this position",
        )
        return []
    except ReaderError as exc:  # a character YAML does not allow (a control character)
        code = exc.character if isinstance(exc.character, int) else 0xFFFD
        # kubectl kustomize cannot carry U+007F-U+009F even escaped: only C0 can be escaped.
        escape = f' or write it as an escape in a double-quoted string ("\\x{code:02x}")'
        diags.error(
            "yaml-syntax",
            f"YAML syntax error: the character U+{code:04X} is not allowed in YAML (only "
            "printable characters are)",
            _offset_location(path, text, exc.position),
            hint="remove it (an invisible character, often pasted in)"
            + (f",{escape}" if code < 0x20 else ""),
        )
        return []
    except YAMLError as exc:  # pragma: no cover - unmarked errors are rare
        diags.error("yaml-syntax", f"YAML syntax error: {exc}", Location(path, 1, 1))
        return []
    # Only files that contain such a character, or an escape that could make one, are checked.
    check_chars = bool(_KUSTOMIZE_UNSAFE.search(text) or _ESCAPE.search(text))
    budget = [MAX_FILE_DIAGNOSTICS]
    lines = text.split("\n")
    for index, node in enumerate(nodes):
        if node is None:
            continue
        builder = _Builder(path, diags, check_chars, budget, lines)
        data = builder.build(node)
        if data is None:
            continue
        check_metadata(data, builder)
        documents.append(
            Document(
                path=path,
                index=index,
                data=data,
                values=builder.values,
                keys=builder.keys,
                line=node.start_mark.line + 1,
                text=text,
                floats=builder.floats,
            )
        )
    return documents


class InputError(Exception):
    """A file kaosgen refuses to read: `rule`, a message and what to do."""

    def __init__(self, rule: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.hint = hint


_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _require_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        what = next((name for test, name in _NOT_REGULAR if test(mode)), "a special file")
        raise InputError(
            "not-a-file",
            f"is {what}, not a regular file",
            "kaosgen reads only regular files; replace it, or exclude it "
            "(`exclude:` in kaosgen.yaml)",
        )


def _too_large(size: int | None) -> InputError:
    shown = f" {size:,} bytes," if size is not None else ""
    return InputError(
        "file-size",
        f"file is{shown} over the {describe_bytes(MAX_FILE_BYTES)} limit for one input",
        "split it into smaller files; if it is not a Kubernetes resource, exclude it "
        "(`exclude:` in kaosgen.yaml)",
    )


def read_input_bytes(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, else InputError.

    Opened without blocking (a FIFO with no writer would wait forever) and checked with
    fstat on the open descriptor, so a FIFO, a device such as /dev/zero or a directory
    behind a .yaml name is refused before a byte is read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        _require_regular(os.stat(path).st_mode)  # a socket cannot even be opened
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError("io", "cannot read file: symbolic link loop") from None
        if exc.errno == errno.ENOENT and os.path.islink(path):
            raise InputError("io", "cannot read file: broken symbolic link") from None
        raise InputError("io", f"cannot read file: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        _require_regular(info.st_mode)  # what was opened, if it changed since the stat
        if info.st_size > limit:
            raise _too_large(info.st_size)
        chunks = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise InputError("io", f"cannot read file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew while being read
        raise _too_large(None)
    return data


def read_stdin(limit: int = MAX_FILE_BYTES) -> bytes:
    """Standard input, bounded like a file."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        return b""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise _too_large(None)
    return data


def decode(raw: bytes, display: str, diags: Diagnostics) -> str | None:
    """UTF-8 text, or an `encoding` error at the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if (encoding := _utf16_or_32(raw)) is not None:
            diags.error(
                "encoding",
                f"file is {encoding} (it starts with a {encoding} byte order mark), not UTF-8",
                Location(display, 1, 1),
                hint=f"save the file as UTF-8 (e.g. iconv -f {encoding} -t UTF-8)",
            )
            return None
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        diags.error(
            "encoding",
            f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            Location(display, line, col),
            hint="save the file as UTF-8",
        )
        return None


_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def _utf16_or_32(raw: bytes) -> str | None:
    """The encoding a byte order mark says (Windows editors save UTF-16 so): the byte
    kaosgen stops at is then no mistake in the text, and the fix is to convert it."""
    return next((name for bom, name in _WIDE_BOMS if raw.startswith(bom)), None)


def read_text(path: Path, display: str, diags: Diagnostics) -> str | None:
    """A file's text (bounded, regular files only); None when an error was reported."""
    try:
        raw = read_stdin() if display == STDIN else read_input_bytes(path)
    except InputError as exc:
        diags.error(exc.rule, exc.message, Location(display), hint=exc.hint)
        return None
    return decode(raw, display, diags)


def display_path(path: Path) -> str:
    """Paths in diagnostics are relative to the working directory when possible."""
    try:
        return os.path.relpath(path)
    except ValueError:  # pragma: no cover - other drive on Windows
        return str(path)


def real_path(path: str | Path) -> Path:
    """The absolute path with symlinks resolved as far as they go: never raises, also on a
    symlink loop (where Path.resolve raises RuntimeError before Python 3.13)."""
    return Path(os.path.realpath(path))


#: `ignored(path, is_dir)`: whether kaosgen.yaml's `exclude:` leaves a path out.
Ignore = Callable[[Path, bool], bool]


#: (link as the user sees it, why it is not followed, what to do) for a symlinked directory.
LinkProblem = tuple[Path, str, str]


def _link_problem(link: Path, root: Path, ancestors: Path) -> LinkProblem | None:
    """Why the symlinked directory `link` (found walking `root`, below the real directory
    `ancestors`) is not followed: it leaves the walked directory or loops back into itself."""
    target = real_path(link)
    shown = os.readlink(link)
    if not target.is_relative_to(root):
        return (
            link,
            f"symlinked directory points outside {display_path(root)} ({link.name} -> {shown}), "
            "so its files are not read",
            "move or copy the files into the project, or pass the directory as another input",
        )
    if ancestors.is_relative_to(target):
        return (
            link,
            f"symlinked directory loops back to a directory that contains it ({link.name} -> "
            f"{shown})",
            "remove the link, or exclude it in kaosgen.yaml (exclude:)",
        )
    return None


def iter_input_files(
    paths: Iterable[str | Path],
    exclude: Iterable[Path] = (),
    ignored: Ignore | None = None,
    links: list[LinkProblem] | None = None,
) -> list[Path]:
    """Files named directly, and *.yaml/*.yml below directories, each once, sorted.

    kaosgen.yaml is never an input. Walking a directory skips hidden entries, the
    `exclude` directories (the render output: `kaosgen render .` never reads its own
    output) and what `ignored` says; other files named directly are always read. The result is sorted by real path, so
    the order of the arguments never changes the output. `-` (stdin) comes first.
    Symlinked directories are followed while they stay inside the walked directory;
    the others (leaving it, or looping) are told in `links`, never silently dropped.
    A file reached both directly and through a link is shown by its direct path.
    """
    excluded = {real_path(p) for p in exclude}
    found: dict[Path, tuple[bool, str, Path]] = {}  # real path -> (via a link, shown, path)
    stdin = False

    def add(file: Path, via_link: bool) -> None:
        entry = (via_link, str(file), file)
        key = real_path(file)
        if key not in found or entry[:2] < found[key][:2]:
            found[key] = entry

    for raw in paths:
        if str(raw) == STDIN_ARG:
            stdin = True
            continue
        path = Path(raw)
        if not path.is_dir():
            if path.name != PROJECT_FILE:  # the project file, never a resource
                add(path, False)
            continue
        root_real = real_path(path)
        linked: set[Path] = set()  # the walked directories reached through a link
        walked: set[Path] = set()  # real paths: a link to one is not followed (no cycles)
        for root, dirs, files in os.walk(path, followlinks=True):
            root_path = Path(root)
            walked.add(real_path(root_path))
            via_link = root_path in linked
            kept = []
            for d in dirs:
                entry = root_path / d
                if (
                    d.startswith(".")
                    or d == PROJECT_FILE
                    or real_path(entry) in excluded
                    or (ignored and ignored(entry, True))
                ):
                    continue
                if entry.is_symlink():
                    problem = _link_problem(entry, root_real, real_path(root_path))
                    if problem is not None:
                        if links is not None:
                            links.append(problem)
                        continue
                    if real_path(entry) in walked:
                        continue
                    walked.add(real_path(entry))
                    linked.add(entry)
                elif via_link:
                    linked.add(entry)
                kept.append(d)
            dirs[:] = sorted(kept)
            for name in files:
                if (
                    name.endswith(YAML_SUFFIXES)
                    and name != PROJECT_FILE
                    and not name.startswith(".")
                    and not (ignored and ignored(root_path / name, False))
                ):
                    add(root_path / name, via_link)
    ordered = [found[key][2] for key in sorted(found)]
    return [Path(STDIN_ARG), *ordered] if stdin else ordered


def load_paths(
    paths: Iterable[str | Path], exclude: Iterable[Path] = (), ignored: Ignore | None = None
) -> LoadResult:
    diags = Diagnostics()
    documents: list[Document] = []
    sources: dict[str, str] = {}
    links: list[LinkProblem] = []
    files = iter_input_files(paths, exclude, ignored, links)
    for link, message, hint in links:
        diags.error("symlink", message, Location(display_path(link)), hint=hint)
    for file in files:
        display = STDIN if str(file) == STDIN_ARG else display_path(file)
        if display != STDIN and not os.path.lexists(file):
            diags.error("io", "no such file or directory", Location(display))
            continue
        text = read_text(file, display, diags)
        if text is None:
            continue
        sources[display] = text
        documents.extend(parse_text(display, text, diags))
    if not files:
        diags.error(
            "io", "no input files found", Location("."), hint="pass YAML files or directories"
        )
    return LoadResult(documents, sources, diags)
