"""kaosgen's wheel and sdist (`uv build`), and an offline wheelhouse of their dependencies.

The tests install kaosgen the way users do (`pip install kaosgen-*.whl`, with and without
the `runtime` extra) and build the images from the same wheel, without network access. pip
gets `--no-index --find-links WHEELHOUSE`, where the wheelhouse holds

- kaosgen's dependencies (with the extras asked for), repacked as wheels from the
  distributions installed in the test's own virtualenv: uv installed them from uv.lock, so
  they are the locked versions, and they are there by definition;
- optionally the build backend (hatchling and its dependencies), installed from uv's cache
  with `uv pip install --offline --target` (uv built kaosgen with it) and repacked the same way.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.tags import sys_tags

REPO = Path(__file__).resolve().parents[2]
_SKIP_META = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "uv_cache.json"}


def uv() -> str:
    found = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError("uv is needed (pip install uv)")
    return found


def build_dists(dest: Path) -> tuple[Path, Path]:
    """`uv build` of this working tree, offline: (wheel, sdist)."""
    dest.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [uv(), "build", "--offline", "--quiet", "--out-dir", str(dest), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"uv build failed:\n{proc.stdout}\n{proc.stderr}"
    (wheel,) = dest.glob("kaosgen-*.whl")
    (sdist,) = dest.glob("kaosgen-*.tar.gz")
    return wheel, sdist


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def repack(dist: metadata.Distribution, dest: Path) -> Path:
    """A wheel made from an installed distribution (its RECORD lists the files)."""
    info_dir = Path(str(dist._path)).name  # type: ignore[attr-defined]
    wheel_meta = dist.read_text("WHEEL") or ""
    tags = [
        line.split(":", 1)[1].strip() for line in wheel_meta.splitlines() if line.startswith("Tag:")
    ]
    supported = {str(t) for t in sys_tags()}
    tag = next((t for t in tags if t in supported), tags[0] if tags else "py3-none-any")
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    target = dest / f"{name}-{dist.version}-{tag}.whl"
    records = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as whl:
        for entry in dist.files or []:
            rel = entry.as_posix()
            parts = rel.split("/")
            if rel.startswith("..") or "__pycache__" in parts or rel.endswith(".pyc"):
                continue
            if parts[0] == info_dir and parts[-1] in _SKIP_META:
                continue
            source = Path(str(dist.locate_file(entry)))
            if not source.is_file():
                continue
            data = source.read_bytes()
            whl.writestr(rel, data)
            records.append(f"{rel},{_record_hash(data)},{len(data)}")
        records.append(f"{info_dir}/RECORD,,")
        whl.writestr(f"{info_dir}/RECORD", "\n".join(records) + "\n")
    return target


def closure(roots: list[str]) -> list[metadata.Distribution]:
    """The installed distributions `roots` (requirement strings) need, transitively, with
    the extras each one is asked for (pydantic[email] after a plain pydantic, say)."""
    seen: dict[str, metadata.Distribution] = {}
    expanded: set[tuple[str, str]] = set()
    todo = [(r, "") for r in roots]
    while todo:
        raw, extra = todo.pop()
        req = Requirement(raw)
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        key = re.sub(r"[-_.]+", "-", req.name).lower()
        if key not in seen:
            try:
                seen[key] = metadata.distribution(req.name)
            except metadata.PackageNotFoundError:
                continue
        for wanted in ("", *sorted(req.extras)):
            if (key, wanted) in expanded:
                continue
            expanded.add((key, wanted))
            todo.extend((dep, wanted) for dep in seen[key].requires or [])
    return list(seen.values())


def kaosgen_requirements(extras: tuple[str, ...] = ()) -> list[str]:
    """kaosgen's own requirements: the base ones and those of `extras`."""
    wanted = []
    for raw in metadata.distribution("kaosgen").requires or []:
        req = Requirement(raw)
        if req.marker is None:
            wanted.append(raw)
        elif any(req.marker.evaluate({"extra": extra}) for extra in ("", *extras)):
            wanted.append(str(Requirement(raw.split(";")[0])))
    return wanted


def build_wheelhouse(
    dest: Path, *, extras: tuple[str, ...] = (), build_backend: bool = False
) -> Path:
    """kaosgen's dependencies (with `extras`) as wheels in `dest`; plus hatchling if asked."""
    dest.mkdir(parents=True, exist_ok=True)
    for dist in closure(kaosgen_requirements(extras)):
        if dist.metadata["Name"].lower() != "kaosgen":
            repack(dist, dest)
    if build_backend:
        target = dest.parent / f"{dest.name}-build-backend"
        subprocess.run(
            [
                uv(),
                "pip",
                "install",
                "--offline",
                "--quiet",
                "--python",
                sys.executable,
                "--target",
                str(target),
                "hatchling>=1.25",
            ],
            check=True,
            capture_output=True,
        )
        for dist in metadata.distributions(path=[str(target)]):
            repack(dist, dest)
    return dest
