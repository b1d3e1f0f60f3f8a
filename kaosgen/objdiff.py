"""`kaosgen diff`: what a render changes, object by object.

Both sides are sets of rendered files (`path -> text`). Every YAML document becomes an
object keyed by where it applies (`base`, `overlays/<env>`, `hydrated/<env>`,
`clusters/<env>`, ...) and its kind, namespace and name, so moving an object between files
(or shards) is not a change, and each
added / changed / removed object gets its own readable unified diff of canonical YAML.
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kaosgen import yamlout
from kaosgen.ownership import MANIFEST
from kaosgen.writer import HEADER, is_generated

_SKIP_DIRS = {".git", ".hg", ".svn"}


@dataclass(frozen=True, order=True)
class ObjectKey:
    scope: str  # base | overlays/<env> | hydrated/<env> | clusters/<env> | clusters
    kind: str
    namespace: str
    name: str

    def label(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {ns}{self.name} ({self.scope})"


@dataclass
class ObjectDiff:
    added: list[ObjectKey] = field(default_factory=list)
    changed: list[ObjectKey] = field(default_factory=list)
    removed: list[ObjectKey] = field(default_factory=list)
    old: dict[ObjectKey, str] = field(default_factory=dict)
    new: dict[ObjectKey, str] = field(default_factory=dict)
    old_paths: dict[ObjectKey, str] = field(default_factory=dict)
    new_paths: dict[ObjectKey, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


def _scope(path: str) -> str:
    parts = path.split("/")
    if parts[0] in ("overlays", "hydrated", "clusters") and len(parts) > 2:
        return f"{parts[0]}/{parts[1]}"
    return parts[0] if len(parts) > 1 else "."


def _load_all(text: str) -> list[Any]:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=False)
    return [doc for doc in yaml.load_all(text) if doc is not None]


def objects_of(files: dict[str, str]) -> tuple[dict[ObjectKey, str], dict[ObjectKey, str]]:
    """(key -> canonical YAML of the object, key -> file it is in)."""
    texts: dict[ObjectKey, str] = {}
    paths: dict[ObjectKey, str] = {}
    for path in sorted(files):
        if not path.endswith((".yaml", ".yml")):
            continue
        try:
            docs = _load_all(files[path])
        except Exception:  # unparsable: compare the file as one text
            key = ObjectKey(_scope(path), "File", "", path)
            texts[key], paths[key] = files[path], path
            continue
        for index, doc in enumerate(docs):
            if (
                isinstance(doc, dict)
                and isinstance(doc.get("metadata"), dict)
                and doc["metadata"].get("name")
            ):
                meta = doc["metadata"]
                key = ObjectKey(
                    _scope(path),
                    str(doc.get("kind", "")),
                    str(meta.get("namespace") or ""),
                    str(meta["name"]),
                )
            else:  # a kustomization.yaml or a patch: its file names it
                kind = str(doc.get("kind", "Document")) if isinstance(doc, dict) else "Document"
                suffix = f"#{index}" if len(docs) > 1 else ""
                key = ObjectKey(_scope(path), kind, "", path + suffix)
            texts[key] = yamlout.dump(doc)
            paths[key] = path
    return texts, paths


def compare(old_files: dict[str, str], new_files: dict[str, str]) -> ObjectDiff:
    old, old_paths = objects_of(old_files)
    new, new_paths = objects_of(new_files)
    result = ObjectDiff(old=old, new=new, old_paths=old_paths, new_paths=new_paths)
    for key in sorted(set(old) | set(new)):
        if key not in old:
            result.added.append(key)
        elif key not in new:
            result.removed.append(key)
        elif old[key] != new[key]:
            result.changed.append(key)
    return result


def format_diff(diff: ObjectDiff, *, color: bool = False) -> str:
    def paint(line: str) -> str:
        if not color:
            return line
        if line.startswith("+") and not line.startswith("+++"):
            return f"\x1b[32m{line}\x1b[0m"
        if line.startswith("-") and not line.startswith("---"):
            return f"\x1b[31m{line}\x1b[0m"
        if line.startswith("@@"):
            return f"\x1b[36m{line}\x1b[0m"
        return line

    out: list[str] = []
    status = {
        **dict.fromkeys(diff.added, "added"),
        **dict.fromkeys(diff.changed, "changed"),
        **dict.fromkeys(diff.removed, "removed"),
    }
    for key in sorted(status):
        what = status[key]
        where = diff.new_paths.get(key) or diff.old_paths.get(key, "")
        out.append(f"{what}: {key.label()}  [{where}]")
        old = diff.old.get(key, "")
        new = diff.new.get(key, "")
        lines = difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{diff.old_paths[key]}" if key in diff.old_paths else "/dev/null",
            tofile=f"b/{diff.new_paths[key]}" if key in diff.new_paths else "/dev/null",
        )
        for line in lines:
            out.append(paint(line.rstrip("\n")))
        out.append("")
    out.append(f"{len(diff.added)} added, {len(diff.changed)} changed, {len(diff.removed)} removed")
    return "\n".join(out) + "\n"


# --- the two sides ---------------------------------------------------------------------


def read_generated(out_dir: Path) -> dict[str, str]:
    """Every kaosgen-generated file below a directory (the committed render)."""
    files: dict[str, str] = {}
    if not out_dir.is_dir():
        return files
    for root, dirs, names in os.walk(out_dir):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in names:
            path = Path(root) / name
            if name != MANIFEST and is_generated(path):
                files[path.relative_to(out_dir).as_posix()] = path.read_text(
                    encoding="utf-8", errors="replace"
                )
    return files


def strip_header(files: dict[str, str]) -> dict[str, str]:
    return {k: v.removeprefix(HEADER) for k, v in files.items()}


class GitError(RuntimeError):
    pass


def _git(*args: str, cwd: Path) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise GitError("git is not installed") from exc
    if proc.returncode != 0:
        raise GitError(proc.stderr.strip() or f"git {' '.join(args)} failed")
    return proc.stdout


def is_git_ref(ref: str, cwd: Path) -> bool:
    try:
        _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=cwd)
    except GitError:
        return False
    return True


@contextmanager
def checkout_at(ref: str, paths: list[Path]) -> Iterator[tuple[Path, Path]]:
    """The given paths as they were at `ref`, in a temporary directory.

    Yields (temporary repository root, the repository's real top level); a path that did
    not exist at `ref` is simply absent. `git archive`: no worktree, no index, no locks.
    """
    anchor = paths[0] if paths[0].is_dir() else paths[0].parent
    top = Path(_git("rev-parse", "--show-toplevel", cwd=anchor.resolve()).strip()).resolve()
    tmp = Path(tempfile.mkdtemp(prefix="kaosgen-diff-"))
    try:
        for path in paths:
            rel = path.resolve().relative_to(top).as_posix() or "."
            try:
                data = subprocess.run(
                    ["git", "archive", "--format=tar", ref, "--", rel],
                    cwd=top,
                    capture_output=True,
                    check=True,
                ).stdout
            except subprocess.CalledProcessError:
                continue  # not there at that ref
            archive = tmp / ".kaosgen-archive.tar"
            archive.write_bytes(data)
            with tarfile.open(archive) as tar:
                try:
                    tar.extractall(tmp, filter="data")
                except TypeError:  # Python < 3.11.4: no extraction filters
                    tar.extractall(tmp)  # our own repository's archive
            archive.unlink()
        yield tmp, top
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
