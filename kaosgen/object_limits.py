"""Objects the cluster would refuse for their size, reported at the text that made them.

An agent's instructions or an MCP server's source code can be long. The files render and
build, and then the cluster refuses them: the API server rejects a ConfigMap or Secret with
more than 1 MiB of data and any object over etcd's 1.5 MiB request limit, and Linux refuses
to start a container whose environment holds one `NAME=value` string over 128 KiB
(MAX_ARG_STRLEN), so the pod crash-loops with "argument list too long". kaosgen says so at
`render` and `validate`, at the longest text of the document the object came from.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from kaosgen.diagnostics import Diagnostics
from kaosgen.source import Document

#: One environment string (`NAME=value`) or argument, with its terminating NUL (Linux's
#: MAX_ARG_STRLEN).
MAX_ENV_STRING = 32 * 4096
#: A ConfigMap's or Secret's data (the API server's validation).
MAX_CONFIG_DATA = 1024 * 1024
#: A whole object (etcd's default request limit).
MAX_OBJECT = 1536 * 1024
#: A document with less text than this cannot make an object near any limit, even with
#: every character escaped (JSON's `\\u0001` is 6 bytes): most documents are skipped.
_WORTH_CHECKING = 16 * 1024

RULE = "object-too-large"


def text_size(data: Any) -> int:
    """Bytes of text (keys and strings) in a document's data."""
    if isinstance(data, str):
        return len(data.encode("utf-8", "surrogatepass"))
    if isinstance(data, dict):
        return sum(text_size(k) + text_size(v) for k, v in data.items())
    if isinstance(data, list):
        return sum(text_size(v) for v in data)
    return 0


def worth_checking(doc: Document) -> bool:
    return text_size(doc.data) >= _WORTH_CHECKING


def check_objects(objects: list[dict[str, Any]], doc: Document, diags: Diagnostics) -> None:
    """Report each object made from `doc` that the cluster would refuse."""
    for obj in objects:
        kind = str(obj.get("kind", "object"))
        name = str((obj.get("metadata") or {}).get("name", ""))
        for problem, culprit, excess in _problems(obj):
            diags.error(
                RULE,
                f"{kind} {name!r}: {problem}",
                _blame(doc, culprit),
                hint=f"shorten this text by at least {_kib(excess)} KiB, or move it out of the "
                "resource (a file in the image, a volume)",
            )


def _problems(obj: dict[str, Any]) -> Iterator[tuple[str, str, int]]:
    """(what is wrong, the text that is too long, by how many bytes)."""
    kind = obj.get("kind")
    if kind in ("ConfigMap", "Secret"):
        size, culprit = _config_data(obj)
        if size > MAX_CONFIG_DATA:
            yield (
                f"holds {_kib(size)} KiB of data; the API server refuses more than "
                f"{MAX_CONFIG_DATA // 1024} KiB",
                culprit,
                size - MAX_CONFIG_DATA,
            )
    for what, string in _exec_strings(obj):
        # The string Linux gets ends with a NUL.
        size = len(string.encode("utf-8", "surrogatepass")) + 1
        if size > MAX_ENV_STRING:
            yield (
                f"{what} is {_kib(size)} KiB; Linux refuses to start a process with one over "
                f"{MAX_ENV_STRING // 1024} KiB (the pod would crash-loop with 'argument list "
                "too long')",
                string,
                size - MAX_ENV_STRING,
            )
    encoded = json.dumps(obj, ensure_ascii=False, default=str)
    size = len(encoded.encode("utf-8", "surrogatepass"))
    if size > MAX_OBJECT:
        yield (
            f"is {_kib(size)} KiB as JSON; the API server refuses objects over "
            f"{MAX_OBJECT // 1024} KiB",
            encoded,
            size - MAX_OBJECT,
        )


def _config_data(obj: dict[str, Any]) -> tuple[int, str]:
    """The size the API server counts (keys and values; a Secret's values decoded), and
    the values' text."""
    size, texts = 0, []
    for field in ("data", "stringData", "binaryData"):
        entries = obj.get(field)
        if not isinstance(entries, dict):
            continue
        for key, value in entries.items():
            text = value if isinstance(value, str) else ""
            texts.append(text)
            raw = len(text.encode("utf-8", "surrogatepass"))
            base64 = field == "binaryData" or (obj.get("kind") == "Secret" and field == "data")
            size += (raw * 3 // 4 if base64 else raw) + len(str(key))
    return size, "\n".join(texts)


def _exec_strings(obj: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(what it is, the string execve gets) for each literal env value (`NAME=value`),
    command word and argument of the object's pod template (the kubelet turns `$$` in
    values and arguments into `$`)."""
    spec = obj.get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    pod = template.get("spec") if isinstance(template, dict) else None
    if not isinstance(pod, dict):
        return
    for field in ("initContainers", "containers"):
        for container in pod.get(field) or ():
            if not isinstance(container, dict):
                continue
            for var in container.get("env") or ():
                if isinstance(var, dict) and isinstance(var.get("value"), str):
                    name = var.get("name")
                    value = var["value"].replace("$$", "$")
                    yield f"the environment variable {name}", f"{name}={value}"
            for word in [*(container.get("command") or ()), *(container.get("args") or ())]:
                if isinstance(word, str):
                    what = f"an argument of container {container.get('name')}"
                    yield what, word.replace("$$", "$")


def _blame(doc: Document, culprit: str):
    """The document's longest string that went into `culprit` (as it is, or JSON-escaped);
    the document itself when none did."""
    best: tuple[int, tuple] | None = None
    for path, text in _strings(doc.data, ()):
        if best is not None and len(text) <= best[0]:
            continue
        if text in culprit or json.dumps(text, ensure_ascii=False)[1:-1] in culprit:
            best = (len(text), path)
    return doc.location(best[1]) if best else doc.location()


def _strings(data: Any, path: tuple) -> Iterator[tuple[tuple, str]]:
    if isinstance(data, str):
        if len(data) >= 64:  # short strings are never the reason an object is too large
            yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _strings(value, (*path, i))


def _kib(size: int) -> int:
    return -(-size // 1024)
