"""Edit kaosgen.yaml in place, keeping the user's comments, key order, quoting and indentation.

ruamel.yaml's round-trip mode rewrites only what changes; the indentation of mappings and
block sequences is measured from the file first, so a file indented one way stays so.
Writes are atomic (a temporary file renamed over the original) and refuse to clobber a
file that changed since it was read.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

WIDTH = 4096  # never fold a long line the user wrote on one
DIGESTS_COMMENT = (
    "Manifest digests, written by `kaosgen images pin`: each image runs as ref@digest."
)


class EditError(Exception):
    pass


def _measure(node: Any, found: dict[str, int]) -> None:
    """The file's mapping indent and block-sequence layout, from ruamel's positions."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if not isinstance(node, CommentedMap):
        return
    for key, value in node.items():
        if isinstance(value, CommentedMap | CommentedSeq) and not value.fa.flow_style():
            try:
                _, key_col = node.lc.key(key)
                if value.lc.line is None or not value:
                    continue
                if isinstance(value, CommentedMap):
                    found.setdefault("mapping", value.lc.col - key_col)
                else:
                    found.setdefault("offset", value.lc.col - key_col)
                    found.setdefault("sequence", value.lc.item(0)[1] - key_col)
            except (KeyError, TypeError, IndexError):
                pass
            _measure(value, found)
        if len(found) == 3:
            return


def _yaml(text: str) -> tuple[Any, Any]:
    """A round-trip YAML instance set to the file's layout, and the loaded document."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = WIDTH
    root = yaml.load(text) if text.strip() else None
    found: dict[str, int] = {}
    _measure(root, found)
    mapping = found.get("mapping", 2) if found.get("mapping", 2) > 0 else 2
    offset = max(found.get("offset", 0), 0)
    sequence = found.get("sequence", offset + 2)
    yaml.indent(mapping=mapping, sequence=max(sequence, offset + 2), offset=offset)
    yaml.explicit_start = text.lstrip().startswith("---")
    return yaml, root


def with_digests(text: str, digests: Mapping[str, str]) -> str:
    """kaosgen.yaml's text with `images.digests` set to `digests` (sorted by reference;
    the key is removed when empty). Everything else is kept as written."""
    from ruamel.yaml.comments import CommentedMap

    crlf = "\r\n" in text
    text = text.replace("\r\n", "\n")
    yaml, root = _yaml(text)
    if root is None:
        root = CommentedMap()
    if not isinstance(root, CommentedMap):
        raise EditError("kaosgen.yaml is not a mapping")
    images = root.get("images")
    if images is None:
        if not digests:
            return text.replace("\n", "\r\n") if crlf else text
        images = CommentedMap()
        root["images"] = images
    if not isinstance(images, CommentedMap):
        raise EditError("`images` in kaosgen.yaml is not a mapping")
    old = images.get("digests")
    if not digests:
        if "digests" in images:
            del images["digests"]
            if not images:
                del root["images"]
    else:
        from ruamel.yaml.scalarstring import DoubleQuotedScalarString

        # In flow style (`{a: b}`) YAML 1.1 readers (libyaml, PyYAML) take the `:` of
        # `name:tag` for an indicator: quote there.
        flow = images.fa.flow_style() or (isinstance(old, CommentedMap) and old.fa.flow_style())
        new = CommentedMap()
        for ref in sorted(digests):
            key = DoubleQuotedScalarString(ref) if flow else ref
            new[key] = DoubleQuotedScalarString(digests[ref]) if flow else digests[ref]
            # A comment the user put on an entry stays with it.
            if isinstance(old, CommentedMap) and ref in old.ca.items:
                new.ca.items[key] = old.ca.items[ref]
        if flow:
            new.fa.set_flow_style()
        images["digests"] = new
        if old is None and not images.fa.flow_style():
            images.yaml_set_comment_before_after_key(
                "digests", before=DIGESTS_COMMENT, indent=_column(images, root)
            )
    out = io.StringIO()
    yaml.dump(root, out)
    result = out.getvalue()
    if not digests:
        # ruamel keeps a comment with the node before it: drop ours with the digests.
        result = "".join(
            line
            for line in result.splitlines(keepends=True)
            if line.strip() != f"# {DIGESTS_COMMENT}"
        )
    return result.replace("\n", "\r\n") if crlf else result


def _column(images: Any, root: Any) -> int:
    """The column of `images`' keys, for the comment above `digests`."""
    keys = [k for k in images if k != "digests"]
    if keys:
        try:
            return images.lc.key(keys[0])[1]
        except (KeyError, TypeError):
            pass
    return 2


def replace_file(path: Path, expected: str, text: str) -> None:
    """Write `text` to `path` atomically, if it still holds `expected`."""
    try:
        current = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EditError(f"cannot read {path}: {exc.strerror or exc}") from None
    if current != expected:
        raise EditError(f"{path} changed while kaosgen was working; run the command again")
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise EditError(f"cannot write {path}: {exc.strerror or exc}") from None
