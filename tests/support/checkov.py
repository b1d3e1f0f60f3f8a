"""checkov, an independent scanner, over every built overlay of every example and of the
production test project (every production feature at once: gateway auth, Redis with a
password, HPAs, model storage).

checkov pins many packages, so it lives in its own virtual environment (`.ci/run` makes
`.venv-checkov/` from `tests/scan/checkov-requirements.txt`; `KAOSGEN_CHECKOV` may name
another executable). It runs offline: `--skip-download`, `BC_SKIP_MAPPING=TRUE`, no
update check, and a proxy on a closed loopback port so nothing it tries leaves the machine.

Skipped when checkov is not installed, unless `KAOSGEN_REQUIRE_CHECKOV=1` (CI).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .compiler import REPO, TEST_PROJECTS_DIR, example_dirs, kustomize_build

REQUIRE_ENV = "KAOSGEN_REQUIRE_CHECKOV"
SKIPS_FILE = REPO / "tests" / "scan" / "checkov-skips.yaml"
DEFAULT_CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"


def checkov_binary() -> str:
    configured = os.environ.get("KAOSGEN_CHECKOV")
    path = Path(configured) if configured else DEFAULT_CHECKOV
    if path.is_file() and os.access(path, os.X_OK):
        return str(path)
    reason = (
        f"checkov is not installed at {path} (create it: uv venv .venv-checkov && "
        "uv pip install --python .venv-checkov/bin/python -r tests/scan/checkov-requirements.txt)"
    )
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


# --- the builds --------------------------------------------------------------------------


def fake_digest(ref: str) -> str:
    """A well-formed digest standing in for a registry's answer (the examples' images live
    on public registries this machine cannot reach; `kaosgen images pin` against a real
    registry is tested in tests/images/test_pin_registry.py)."""
    return "sha256:" + hashlib.sha256(ref.encode()).hexdigest()


def pinned_copy(example: Path, destination: Path) -> Path:
    """The example copied to `destination` with every image it deploys pinned in its
    kaosgen.yaml, written the way `kaosgen images pin` writes it."""
    from kaosgen import images
    from kaosgen.pipeline import compile_project
    from kaosgen.projectedit import with_digests

    shutil.copytree(example, destination, ignore=shutil.ignore_patterns("deploy"))
    compilation = compile_project([str(destination)])
    assert compilation.ok, f"{example} does not compile"
    project = compilation.project.project
    targets = images.pin_targets(compilation.files, project, sorted(project.environments))
    project_file = destination / "kaosgen.yaml"
    text = project_file.read_text(encoding="utf-8")
    project_file.write_text(
        with_digests(text, {ref: fake_digest(ref) for ref in targets}), encoding="utf-8"
    )
    return destination


def render(project: Path, output: Path) -> list[str]:
    """Render `project` into `output`; the environments it has."""
    from kaosgen.pipeline import compile_project

    compilation = compile_project([str(project)], output=str(output))
    assert compilation.ok, f"{project} does not compile"
    for path, text in compilation.files.items():
        target = output / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return sorted(compilation.project.project.environments)


def scanned_projects() -> list[Path]:
    """The examples and the production test project, which alone renders some features."""
    return [*example_dirs(), TEST_PROJECTS_DIR / "production"]


def build_examples(workdir: Path, *, pinned: bool) -> Path:
    """`kubectl kustomize` of every overlay of every scanned project, as
    `<builds>/<project>/<env>.yaml`."""
    builds = workdir / ("pinned" if pinned else "as-committed")
    for example in scanned_projects():
        project = pinned_copy(example, workdir / "projects" / example.name) if pinned else example
        output = workdir / "renders" / ("pinned" if pinned else "plain") / example.name
        for env in render(project, output):
            target = builds / example.name / f"{env}.yaml"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(kustomize_build(output / "overlays" / env), encoding="utf-8")
    return builds


# --- checkov -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    check: str
    title: str
    example: str
    overlay: str
    kind: str
    namespace: str
    name: str
    passed: bool

    @property
    def object(self) -> str:
        return f"{self.kind}/{self.name}"

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return (
            f"{self.check} ({self.title}) failed on {self.kind} {where} "
            f"in {self.example} overlays/{self.overlay}"
        )


def _result(item: dict[str, Any], builds: Path, passed: bool) -> Result:
    path = Path(item.get("file_abs_path") or item["file_path"])
    try:
        rel = path.resolve().relative_to(builds.resolve())
    except ValueError:
        rel = Path(str(item["file_path"]).lstrip("/"))
    example, overlay = rel.parts[0], Path(rel.parts[-1]).stem
    kind, _, rest = str(item["resource"]).partition(".")
    namespace, _, name = rest.partition(".")
    return Result(
        item["check_id"], item["check_name"], example, overlay, kind, namespace, name, passed
    )


def run_checkov(builds: Path) -> list[Result]:
    """Every check checkov's Kubernetes framework ran on the builds, passed or failed."""
    env = {
        **os.environ,
        "BC_SKIP_MAPPING": "TRUE",
        "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
        "LOG_LEVEL": "ERROR",
        # Anything checkov tries to fetch despite --skip-download fails here, at once.
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "",
    }
    proc = subprocess.run(
        [
            checkov_binary(),
            "--directory",
            str(builds),
            "--framework",
            "kubernetes",
            "--skip-download",
            "--output",
            "json",
            "--compact",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    # checkov exits 1 when any check fails; anything else is its own failure.
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        pytest.fail(f"checkov failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    results: list[Result] = []
    for part in reports:
        assert part["summary"]["parsing_errors"] == 0, part["summary"]
        checks = part["results"]
        results += [_result(i, builds, True) for i in checks.get("passed_checks", [])]
        results += [_result(i, builds, False) for i in checks.get("failed_checks", [])]
    return results


# --- the skip list -----------------------------------------------------------------------


@dataclass
class Skip:
    check: str
    reason: str
    objects: list[str] = field(default_factory=lambda: ["*"])
    examples: list[str] = field(default_factory=lambda: ["*"])

    def matches(self, result: Result) -> bool:
        return (
            result.check == self.check
            and any(fnmatch.fnmatchcase(result.object, p) for p in self.objects)
            and any(fnmatch.fnmatchcase(result.example, p) for p in self.examples)
        )

    def __str__(self) -> str:
        return f"{self.check} on {', '.join(self.objects)} in {', '.join(self.examples)}"


def load_skips(path: Path = SKIPS_FILE) -> list[Skip]:
    from ruamel.yaml import YAML

    entries = YAML(typ="safe").load(path.read_text(encoding="utf-8")) or []
    skips = []
    for i, entry in enumerate(entries):
        where = f"{path.name} entry {i + 1}"
        assert isinstance(entry, dict), f"{where} is not a mapping"
        unknown = set(entry) - {"check", "reason", "objects", "examples"}
        assert not unknown, f"{where}: unknown keys {sorted(unknown)}"
        assert str(entry.get("check", "")).startswith("CKV_"), f"{where}: `check` is a CKV_ id"
        assert len(str(entry.get("reason", "")).strip()) >= 20, f"{where}: say why in `reason`"
        skips.append(
            Skip(
                entry["check"],
                entry["reason"],
                list(entry.get("objects") or ["*"]),
                list(entry.get("examples") or ["*"]),
            )
        )
    return skips


def triage(results: list[Result], skips: list[Skip]) -> tuple[list[Result], list[Skip]]:
    """Failures no skip covers, and skips that cover no failure (stale: remove them)."""
    failures = [r for r in results if not r.passed]
    used: set[int] = set()
    unexpected = []
    for failure in failures:
        hits = [i for i, skip in enumerate(skips) if skip.matches(failure)]
        used.update(hits)
        if not hits:
            unexpected.append(failure)
    stale = [skip for i, skip in enumerate(skips) if i not in used]
    return sorted(unexpected, key=str), stale


def figures(results: list[Result], skips: list[Skip]) -> dict[tuple[str, str], Counter]:
    """(example, overlay) -> passed, failed, and `skipped`: the failures the skip list
    accepts (the rest fail the test)."""
    out: dict[tuple[str, str], Counter] = {}
    for result in results:
        counts = out.setdefault((result.example, result.overlay), Counter())
        counts["passed" if result.passed else "failed"] += 1
        if not result.passed and any(skip.matches(result) for skip in skips):
            counts["skipped"] += 1
    return dict(sorted(out.items()))
