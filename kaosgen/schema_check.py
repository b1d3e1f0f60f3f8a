"""The schema pass: validate each document against its pydantic model.

pydantic's errors carry a location path in the document; the load pass recorded where each
path sits in the file, so every schema error points at the offending key or value.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from kaosgen.diagnostics import Diagnostics
from kaosgen.source import DocPath, Document

_RULES = {
    "extra_forbidden": "schema-unknown-field",
    "missing": "schema-required",
    "literal_error": "schema-enum",
    "enum": "schema-enum",
    "greater_than_equal": "schema-range",
    "less_than_equal": "schema-range",
    "greater_than": "schema-range",
    "less_than": "schema-range",
    "string_pattern_mismatch": "schema-pattern",
    "too_short": "schema-length",
    "too_long": "schema-length",
    "string_too_short": "schema-length",
    "string_too_long": "schema-length",
}


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model class describing the object at `loc`, if it is a model."""
    current: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = next(
            (
                f
                for name, f in current.model_fields.items()
                if (f.alias or name) == part or name == part
            ),
            None,
        )
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Optional[X], list[X], dict[str, X], Annotated[X, ...] -> X (the model, if any)."""
    for _ in range(6):
        origin = typing.get_origin(annotation)
        if origin is None:
            return annotation
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin is typing.Annotated:
            annotation = args[0]
            continue
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if models:
            return models[0]
        nested = [a for a in args if typing.get_origin(a) is not None]
        if not nested:
            return args[-1] if args else annotation
        annotation = nested[-1]
    return annotation


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<document>"


def _describe(err: dict, root: type[BaseModel], prefix: tuple = ()) -> tuple[str, str]:
    """A message and a hint for one pydantic error (`prefix`: where `root` sits in the doc)."""
    loc = tuple(err["loc"])
    kind = err["type"]
    full = (*prefix, *loc)
    where = _dotted(full[:-1]) if full[:-1] else "the document"
    if kind == "extra_forbidden" and loc:
        name = str(loc[-1])
        known = _field_names(m) if (m := _model_at(root, loc[:-1])) else []
        close = difflib.get_close_matches(name, known, n=1)
        hint = (
            f"did you mean {close[0]!r}?"
            if close
            else (f"known fields: {', '.join(sorted(known))}" if known else "remove it")
        )
        return f"unknown field {name!r} in {where}", hint
    if kind == "missing" and loc:
        return f"missing required field {str(loc[-1])!r} in {where}", f"add {loc[-1]}"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"{_dotted(full)}: invalid value {err.get('input')!r}; expected {expected}", ""
    msg = err["msg"]
    return f"{_dotted(full)}: {msg[0].lower() + msg[1:]} (got {err.get('input')!r})", ""


_MARKERS = ("str", "int", "bool", "float", "list", "dict", "none")


def _clean_loc(loc: tuple, data: Any = None) -> tuple:
    """Drop pydantic's union/function markers (e.g. 'function-after[...]', 'str', 'int').

    A part that names a key or index present in the document is the user's, even when it
    looks like a marker (a field called `str` or `a[0]`).
    """
    out = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        if in_dict or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
            node = node[part]
        elif isinstance(part, str) and ("[" in part or part in _MARKERS):
            continue
        else:
            node = None
        out.append(part)
    return tuple(out)


def check_document(
    doc: Document, model: type[BaseModel], diags: Diagnostics, at: DocPath = ()
) -> BaseModel | None:
    """Validate `doc` (or its value at path `at`) against `model`; report every error with
    its position."""
    data = doc.value_at(at)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        reported: set[tuple] = set()
        for err in exc.errors(include_url=False):
            loc = _clean_loc(tuple(err["loc"]), data)
            if (
                err["type"] in ("model_type", "dict_type")
                and not loc
                and not isinstance(data, dict)
            ):
                what = _dotted(at) if at else "document"
                diags.error("schema-type", f"{what} is not a mapping", doc.location(at))
                return None
            key = (loc, err["type"])
            if key in reported:
                continue
            reported.add(key)
            clean = dict(err, loc=loc)
            message, hint = _describe(clean, model, tuple(at))
            rule = _RULES.get(err["type"], "schema-type")
            path: DocPath = (*at, *loc)
            if err["type"] == "missing":
                location = doc.location(path[:-1], key=True)
            else:
                # A bad mapping key (pydantic marks it `[key]`) points at the key itself.
                on_key = err["type"] == "extra_forbidden" or "[key]" in err["loc"]
                location = doc.location(path, key=on_key)
            diags.error(rule, message, location, hint)
        return None
