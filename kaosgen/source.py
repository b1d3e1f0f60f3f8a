"""Load YAML files into plain data that remembers where every value came from.

The load pass of the pipeline. libyaml (through ruamel's C parser) builds the node
graph quickly; this module turns nodes into plain dicts/lists/scalars and records the
line and column of every key and value, so that later passes (schema, cross-references)
can point at the exact place in the user's file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kaosgen.diagnostics import Diagnostics, Location

YAML_SUFFIXES = (".yaml", ".yml")
PROJECT_FILE = "kaosgen.yaml"

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


def _scalar_value(node: Any) -> Any:
    """YAML 1.2 core schema; timestamps, binary and unknown tags stay strings."""
    tag, text = node.tag, node.value
    if tag.endswith(":null"):
        return None
    if tag.endswith(":bool"):
        return text.lower() in ("true", "yes", "on")
    if tag.endswith(":int"):
        clean = text.replace("_", "")
        try:
            return int(clean, 0)
        except ValueError:
            try:
                return int(clean, 10)
            except ValueError:
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


#: Characters `kubectl kustomize` (Go YAML, as Flux and Argo CD use it) cannot carry: it
#: fails on C1 controls and U+FFFE/U+FFFF, and turns NEL (U+0085) into a space.
_KUSTOMIZE_UNSAFE = re.compile("[\x7f-\x9f\ufffe\uffff]")
#: Double-quoted escapes that could produce one of them.
_ESCAPE = re.compile(r"\\[xuUN]")


class _Builder:
    """Turns one composed node tree into data + positions, reporting duplicate keys."""

    def __init__(self, path: str, diags: Diagnostics, check_chars: bool = False) -> None:
        self.path = path
        self.diags = diags
        self.check_chars = check_chars
        self.values: dict[DocPath, tuple[int, int]] = {}
        self.keys: dict[DocPath, tuple[int, int]] = {}

    def _scalar(self, node: Any) -> Any:
        value = _scalar_value(node)
        if self.check_chars and isinstance(value, str) and (bad := _KUSTOMIZE_UNSAFE.search(value)):
            mark = node.start_mark
            char = bad.group(0)
            self.diags.error(
                "unsupported-character",
                f"text contains U+{ord(char):04X} "
                f"({'a noncharacter' if char in chr(0xFFFE) + chr(0xFFFF) else 'a control character'}), "
                "which kubectl kustomize cannot carry",
                Location(self.path, mark.line + 1, mark.column + 1),
                hint="remove the character; kustomize (also in Flux and Argo CD) fails on it or changes it",
            )
        return value

    def build(self, node: Any, at: DocPath = ()) -> Any:
        mark = node.start_mark
        self.values[at] = (mark.line + 1, mark.column + 1)
        node_id = getattr(node, "id", "")
        if node_id == "mapping":
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = (
                    self.build(key_node, (*at, "<key>"))
                    if key_node.id != "scalar"
                    else self._scalar(key_node)
                )
                if isinstance(key, (dict, list)):
                    self.diags.error(
                        "yaml-syntax",
                        "complex mapping keys are not supported",
                        Location(
                            self.path, key_node.start_mark.line + 1, key_node.start_mark.column + 1
                        ),
                    )
                    continue
                if key_node.tag.endswith(":merge") and value_node.id == "mapping":
                    merged = self.build(value_node, at)
                    for mk, mv in merged.items():
                        result.setdefault(mk, mv)
                    continue
                key_str = key if isinstance(key, str) else str(key)
                kmark = key_node.start_mark
                if key_str in result:
                    self.diags.error(
                        "yaml-duplicate-key",
                        f"duplicate key {key_str!r}: YAML keeps only one of them",
                        Location(self.path, kmark.line + 1, kmark.column + 1),
                        hint="remove or rename one of the two entries",
                    )
                self.keys[(*at, key_str)] = (kmark.line + 1, kmark.column + 1)
                result[key_str] = self.build(value_node, (*at, key_str))
            return result
        if node_id == "sequence":
            return [self.build(item, (*at, i)) for i, item in enumerate(node.value)]
        return self._scalar(node)


def _yaml_parser():
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=False)
    yaml.allow_duplicate_keys = True
    return yaml


def parse_text(path: str, text: str, diags: Diagnostics) -> list[Document]:
    """Parse a multi-document YAML text. On a syntax error, report it and return []."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    if text.startswith("\ufeff"):
        text = text[1:]
    yaml = _yaml_parser()
    documents: list[Document] = []
    try:
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
    except YAMLError as exc:  # pragma: no cover - unmarked errors are rare
        diags.error("yaml-syntax", f"YAML syntax error: {exc}", Location(path, 1, 1))
        return []
    # Only files that contain such a character, or an escape that could make one, are checked.
    check_chars = bool(_KUSTOMIZE_UNSAFE.search(text) or _ESCAPE.search(text))
    for index, node in enumerate(nodes):
        if node is None:
            continue
        builder = _Builder(path, diags, check_chars)
        data = builder.build(node)
        if data is None:
            continue
        documents.append(
            Document(
                path=path,
                index=index,
                data=data,
                values=builder.values,
                keys=builder.keys,
                line=node.start_mark.line + 1,
                text=text,
            )
        )
    return documents


def read_text(path: Path, display: str, diags: Diagnostics) -> str | None:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        diags.error("io", f"cannot read file: {exc.strerror or exc}", Location(display))
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
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


def display_path(path: Path) -> str:
    """Paths in diagnostics are relative to the working directory when possible."""
    try:
        return os.path.relpath(path)
    except ValueError:  # pragma: no cover - other drive on Windows
        return str(path)


def iter_input_files(paths: Iterable[str | Path], exclude: Iterable[Path] = ()) -> Iterator[Path]:
    """Files named directly, and *.yaml/*.yml below directories, in a stable order.

    The project file and excluded directories (the render output) are skipped when
    walking directories, so `kaosgen render .` never reads its own output.
    """
    excluded = {p.resolve() for p in exclude}
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found: list[Path] = []
            for root, dirs, files in os.walk(path):
                root_path = Path(root)
                dirs[:] = sorted(
                    d
                    for d in dirs
                    if not d.startswith(".") and (root_path / d).resolve() not in excluded
                )
                for name in files:
                    if (
                        name.endswith(YAML_SUFFIXES)
                        and name != PROJECT_FILE
                        and not name.startswith(".")
                    ):
                        found.append(root_path / name)
            candidates = sorted(found)
        else:
            candidates = [path]
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                yield candidate


def load_paths(paths: Iterable[str | Path], exclude: Iterable[Path] = ()) -> LoadResult:
    diags = Diagnostics()
    documents: list[Document] = []
    sources: dict[str, str] = {}
    any_input = False
    for file in iter_input_files(paths, exclude):
        any_input = True
        display = display_path(file)
        if not file.exists():
            diags.error("io", "no such file or directory", Location(display))
            continue
        text = read_text(file, display, diags)
        if text is None:
            continue
        sources[display] = text
        documents.extend(parse_text(display, text, diags))
    if not any_input:
        diags.error(
            "io", "no input files found", Location("."), hint="pass YAML files or directories"
        )
    return LoadResult(documents, sources, diags)
