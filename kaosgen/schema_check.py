"""The schema pass: validate each document against its pydantic model.

pydantic's errors carry a location path in the document; the load pass recorded where each
path sits in the file, so every schema error points at the offending key or value.
"""

from __future__ import annotations

import copy
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
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        msg = "Input should be a mapping"  # not pydantic's "... or instance of <class>"
    return (
        f"{_dotted(full)}: {msg[0].lower() + msg[1:]} (got {err.get('input')!r})",
        _TYPE_HINTS.get(kind, ""),
    )


#: What to write instead of a value of the wrong scalar type (the models do not coerce).
_TYPE_HINTS = {
    "int_type": "write a number without quotes (quoted, it is text, which the API server "
    "refuses for an integer)",
    "bool_type": "write true or false without quotes (quoted, or as a number, the API "
    "server refuses it for a boolean)",
    "float_type": "write a number without quotes (quoted, it is text)",
}


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
    doc: Document,
    model: type[BaseModel],
    diags: Diagnostics,
    at: DocPath = (),
    *,
    recover: bool = False,
) -> BaseModel | None:
    """Validate `doc` (or its value at path `at`) against `model`; report every error with
    its position.

    With `recover`, a document with errors still yields a model when dropping the offending
    fields leaves a valid one, so later passes can report the document's other problems
    (a missing ModelAPI next to a typo) in the same run. Such a model is for checking only:
    the errors already reported keep the build from rendering it.
    """
    data = doc.value_at(at)
    if doc.floats:
        data = integral_floats(data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if not _report(doc, model, diags, at, data, errors):
            return None
        return _recovered(model, data, errors) if recover else None


def integral_floats(data: Any) -> Any:
    """`data` with each integral float (`2.0`) as the integer kubectl sends: its YAML to
    JSON conversion writes 2.0 as `2`, which the API server takes for an integer field.
    The models are strict, so they see what the API server would."""
    if type(data) is float:  # (a float past int64 stays one: no integer field takes it)
        return int(data) if data.is_integer() and abs(data) < 2**63 else data
    if isinstance(data, dict):
        return {key: integral_floats(value) for key, value in data.items()}
    if isinstance(data, list):
        return [integral_floats(value) for value in data]
    return data


def _recovered(model: type[BaseModel], data: Any, errors: list[Any]) -> BaseModel | None:
    """`data` without the fields pydantic rejected, validated again; None when that fails
    (a required field is missing or was itself invalid)."""
    if any(err["type"] == "missing" for err in errors):
        return None
    paths = {_clean_loc(tuple(err["loc"]), data) for err in errors}
    if () in paths:
        return None
    pruned = copy.deepcopy(data)
    # Deepest first, and list items from the last, so each removal leaves the other paths valid.
    for path in sorted(paths, key=_removal_order, reverse=True):
        parent = pruned
        for part in path[:-1]:
            try:
                parent = parent[part]
            except (KeyError, IndexError, TypeError):
                parent = None
                break
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
        elif isinstance(parent, list) and isinstance(path[-1], int) and path[-1] < len(parent):
            del parent[path[-1]]
    try:
        return model.model_validate(pruned)
    except ValidationError:
        return None


def _removal_order(path: tuple) -> tuple[int, int]:
    return len(path), path[-1] if isinstance(path[-1], int) else -1


def _report(
    doc: Document,
    model: type[BaseModel],
    diags: Diagnostics,
    at: DocPath,
    data: Any,
    errors: list[Any],
) -> bool:
    """Report pydantic's errors at their positions; False when the value is not even a mapping."""
    reported: set[tuple] = set()
    for err in errors:
        loc = _clean_loc(tuple(err["loc"]), data)
        if err["type"] in ("model_type", "dict_type") and not loc and not isinstance(data, dict):
            what = _dotted(at) if at else "document"
            diags.error("schema-type", f"{what} is not a mapping", doc.location(at))
            return False
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
    return True
