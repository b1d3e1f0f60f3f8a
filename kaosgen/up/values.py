"""The ConfigMap and Secret values a pod reads, as `kaosgen up` finds them.

In a cluster the kubelet reads them from the API server; here they come from the project's
own ConfigMap and Secret documents (what the render carries), then, for Secrets kept out of
git, from an `--env-file` or the caller's environment. A Secret key is looked up there under
the container variable's own name (`OPENAI_API_KEY`) or as `<SECRET>_<KEY>` in upper snake
case (`LLM_PROVIDER_API_KEY` for key `api-key` of Secret `llm-provider`), the only name a
mounted Secret file has.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ValuesError(ValueError):
    """An --env-file that cannot be read (the message names file and line)."""


def secret_variable(secret: str, key: str) -> str:
    """`llm-provider`, `api-key` -> `LLM_PROVIDER_API_KEY`."""
    return re.sub(r"[^A-Za-z0-9]", "_", f"{secret}_{key}").upper()


@dataclass
class Values:
    """ConfigMaps and Secrets by name, and the caller's values for Secrets not in git."""

    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    provided: Mapping[str, str] = field(default_factory=dict)

    def config_map_key(self, name: str, key: str) -> str | None:
        return self.config_maps.get(name, {}).get(key)

    def secret_key(self, name: str, key: str, variable: str | None = None) -> str | None:
        """A Secret's key from the project, else from the caller (see the module doc)."""
        value = self.secrets.get(name, {}).get(key)
        if value is not None:
            return value
        for candidate in (variable, secret_variable(name, key)):
            if candidate and candidate in self.provided:
                return self.provided[candidate]
        return None


def from_objects(objects: list[dict[str, Any]], provided: Mapping[str, str]) -> Values:
    """The ConfigMaps and Secrets among an environment's objects."""
    values = Values(provided=provided)
    for obj in objects:
        kind, name = obj.get("kind"), (obj.get("metadata") or {}).get("name")
        if not isinstance(name, str):
            continue
        if kind == "ConfigMap":
            data = {k: str(v) for k, v in (obj.get("data") or {}).items()}
            for k, v in (obj.get("binaryData") or {}).items():
                data[k] = base64.b64decode(str(v)).decode("utf-8", "replace")
            values.config_maps[name] = data
        elif kind == "Secret":
            data = {
                k: base64.b64decode(str(v)).decode("utf-8", "replace")
                for k, v in (obj.get("data") or {}).items()
            }
            data.update({k: str(v) for k, v in (obj.get("stringData") or {}).items()})
            values.secrets[name] = data
    return values


#: An env file is a handful of secrets: anything bigger is not one.
ENV_FILE_MAX_BYTES = 1024 * 1024

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def read_env_file(path: Path) -> dict[str, str]:
    """`NAME=value` lines as docker compose reads them, parsed by python-dotenv: `#`
    comments (also after a value), blank lines, optional `export`, single quotes taken
    literally, double quotes with escapes (`\\n`), values over several lines in quotes."""
    import io

    from dotenv.parser import parse_stream

    try:
        with path.open("rb") as handle:
            data = handle.read(ENV_FILE_MAX_BYTES + 1)
        if len(data) > ENV_FILE_MAX_BYTES:
            raise ValuesError(f"{path}: larger than {ENV_FILE_MAX_BYTES} bytes: not an env file")
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ValuesError(f"{path}: cannot read ({reason})") from None
    result: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        line = binding.original.line
        if binding.error or (binding.key is not None and binding.value is None):
            shown = binding.original.string.strip()[:60]
            raise ValuesError(f"{path}:{line}:1: expected NAME=value, got {shown!r}")
        if binding.key is None:  # a comment or a blank line
            continue
        if not _ENV_NAME.fullmatch(binding.key):
            raise ValuesError(f"{path}:{line}:1: {binding.key[:60]!r} is not a variable name")
        result[binding.key] = binding.value or ""
    return result
