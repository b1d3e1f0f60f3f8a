"""`!!binary` scalars, read as kubectl reads them.

kubectl's YAML to JSON conversion (go-yaml) decodes a `!!binary` value and carries the
decoded bytes as a string, and kustomize does the same: the deployed value is the text the
base64 encodes, not the base64.
"""

from __future__ import annotations

import base64
import binascii

BINARY_TAG = "tag:yaml.org,2002:binary"


def binary_text(value: str) -> tuple[str, str | None]:
    """The text a `!!binary` scalar encodes, as go-yaml (kubectl) decodes it: standard
    base64 with padding, line breaks ignored; else (value, why not)."""
    try:
        raw = base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        return value, "is not base64 (kubectl refuses the file)"
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return value, (
            "decodes to bytes that are not UTF-8 text, which a Kubernetes object (JSON) "
            "cannot carry"
        )
