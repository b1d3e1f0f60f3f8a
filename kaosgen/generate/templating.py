"""Render a JSON-producing Jinja template into plain data.

Every value goes through the `json` filter, so user text is always a JSON string literal:
quotes, colons, `{{ }}`, newlines and YAML document markers stay inert data.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from kaosgen.resources import data_dir

_encode_str = json.encoder.encode_basestring  # C implementation, no ASCII escaping
_JSON_CONST = {True: "true", False: "false", None: "null"}
#: One encoder for every call: json.dumps with options builds a new encoder each time.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _to_json(value: Any) -> str:
    if type(value) is str:
        return _encode_str(value)
    if value is None or type(value) is bool:
        return _JSON_CONST[value]
    return _encode(value)


def _drop_nulls(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {k: v for k, v in pairs if v is not None}


@lru_cache(maxsize=1)
def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["json"] = _to_json
    return env


def prune(value: Any) -> Any:
    """Drop null fields (and empty optional containers marked None) from template output."""
    if isinstance(value, dict):
        return {k: prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


def render(template: str, **context: Any) -> dict[str, Any]:
    text = _environment().get_template(template).render(**context)
    return json.loads(text, object_pairs_hook=_drop_nulls)
