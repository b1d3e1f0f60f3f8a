"""Where kaosgen's data folders (templates, schemas, kustomize pieces) are.

In a source checkout they sit next to the package; an installed wheel carries them under
`kaosgen/_data/`.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name
