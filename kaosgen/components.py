"""Reusable kustomize pieces from `kustomize/` that a render vendors into its output.

A piece is copied verbatim (with the generated-file header) into the output, so it stays
self-contained: no remote bases, nothing fetched when Flux or Argo CD builds it. Pieces
that belong to every environment go under `base/<name>/` (and into the base
kustomization); platform pieces that live in their own namespace go under `platform/`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kaosgen.models.project import Project
from kaosgen.resources import data_dir

_IMAGE_RE = re.compile(r"^\s*image:\s*\"?([^\s\"]+)\"?\s*$", re.MULTILINE)


def read_component(name: str) -> dict[str, str]:
    root = data_dir("kustomize") / name
    return {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*.yaml"))
    }


def selected(project: Project) -> dict[str, dict[str, str]]:
    """Output directory -> files of each piece the project asks for."""
    chosen: dict[str, dict[str, str]] = {}
    if project.components.redis:
        pieces = read_component("redis")
        if project.components.redis_password is not None:
            # Generated instead: it patches the password in (layout.redis_component_files).
            pieces.pop("kustomization.yaml")
        chosen["base/redis"] = pieces
    if project.gateway.vendor == "envoy":
        # The kustomization is generated (it names the Gateway after gateway.parentRef).
        pieces = read_component("gateway-envoy")
        pieces.pop("kustomization.yaml")
        chosen["platform/gateway"] = pieces
    return chosen


def images(vendored: dict[str, dict[str, str]]) -> list[str]:
    """Images the vendored pieces run, so registry rewrites cover them too."""
    return sorted(
        {
            m
            for files in vendored.values()
            for text in files.values()
            for m in _IMAGE_RE.findall(text)
        }
    )


def pin_images(
    vendored: dict[str, dict[str, str]], digests: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """The pieces with `images.digests` applied to their `image:` lines."""
    from kaosgen.images import pin_ref

    if not digests:
        return vendored

    def pin(match: re.Match[str]) -> str:
        start, end = match.span(1)
        text = match.group(0)
        offset = match.start(0)
        return text[: start - offset] + pin_ref(match.group(1), digests) + text[end - offset :]

    return {
        directory: {rel: _IMAGE_RE.sub(pin, text) for rel, text in files.items()}
        for directory, files in vendored.items()
    }
