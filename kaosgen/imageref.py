"""Container image references: `[registry[:port]/]repository[:tag][@digest]`.

The grammar is the one of the distribution project's `reference` package (what Docker,
containerd and kubelet accept), so a reference kaosgen accepts is one a node can pull and
one kustomize's `images:` transformer splits the same way. Names keep the spelling the user
wrote (kustomize matches `images[].name` against it); `registry_host` and `repository`
give the normalised form a registry is asked about (`docker.io/library/...`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
#: SHA-256 or SHA-512 in lowercase hex: the digests the OCI image spec registers (the
#: distribution grammar allows any algorithm; no registry serves others).
_DIGEST = r"(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"

#: A whole reference (JSON Schema `pattern` of every image field).
REFERENCE_PATTERN = rf"^{_NAME}(?::{_TAG})?(?:@{_DIGEST})?$"
#: A registry (and optional path) an environment's images are moved under: a name prefix.
REGISTRY_PATTERN = rf"^{_NAME}/?$"
#: A reference without a digest (the keys of `images.digests`).
TAGGED_PATTERN = rf"^{_NAME}(?::{_TAG})?$"
DIGEST_PATTERN = rf"^{_DIGEST}$"

_REFERENCE = re.compile(
    rf"(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?", re.ASCII
)
_DIGEST_RE = re.compile(DIGEST_PATTERN, re.ASCII)
NAME_MAX = 255
DOCKER_HUB = "docker.io"
#: Where Docker Hub's registry API answers (`docker.io` is only a name).
DOCKER_HUB_API = "registry-1.docker.io"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}


@dataclass(frozen=True)
class ImageReference:
    domain: str | None  # as written; None: Docker Hub implied
    path: str  # repository path as written (no `library/` added)
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The name as written (what kustomize's `images[].name` matches)."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def registry(self) -> str:
        """The registry as credentials are keyed: `docker.io`, `ghcr.io`, `127.0.0.1:5000`."""
        if self.domain is None or self.domain in _HUB_ALIASES:
            return DOCKER_HUB
        return self.domain

    @property
    def registry_host(self) -> str:
        """Where the distribution API answers for this registry."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def repository(self) -> str:
        """The repository the registry knows: Docker Hub's official images under `library/`."""
        if self.registry == DOCKER_HUB and "/" not in self.path:
            return f"library/{self.path}"
        return self.path

    @property
    def tagged(self) -> str:
        """The reference without its digest: `name[:tag]`."""
        return f"{self.name}:{self.tag}" if self.tag else self.name

    def with_digest(self, digest: str | None) -> ImageReference:
        return replace(self, digest=digest)

    def __str__(self) -> str:
        return f"{self.tagged}@{self.digest}" if self.digest else self.tagged


def parse(ref: str) -> ImageReference:
    """Split a reference; ValueError says what is wrong with it."""
    if not isinstance(ref, str) or not ref:
        raise ValueError("an image reference cannot be empty")
    match = _REFERENCE.fullmatch(ref)
    if match is None:
        raise ValueError(_why_invalid(ref))
    name = match["name"]
    if len(name) > NAME_MAX:
        raise ValueError(f"the repository name is longer than {NAME_MAX} characters")
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        domain, path = first, rest
    else:
        domain, path = None, name
    return ImageReference(domain, path, match["tag"], match["digest"])


def _why_invalid(ref: str) -> str:
    if any(c.isspace() for c in ref):
        return "an image reference cannot contain whitespace"
    name, at, digest = ref.partition("@")
    if at and not _DIGEST_RE.fullmatch(digest):
        return f"digest {digest!r} is not sha256:<64 hex> or sha512:<128 hex> (lowercase)"
    last = name.rsplit("/", 1)[-1]
    if last.count(":") > 1:
        return (
            "more than one ':' after the last '/' (expected [registry/]repository[:tag][@digest])"
        )
    repo = name.split("/", 1)[-1] if "/" in name else name
    if any(c.isupper() for c in repo.split(":", 1)[0]):
        return "repository names are lowercase"
    return "not an image reference (expected [registry[:port]/]repository[:tag][@sha256:<digest>])"


def is_digest(value: str) -> bool:
    return bool(_DIGEST_RE.fullmatch(value))


# --- pydantic types ------------------------------------------------------------------


def _validate_reference(value: str) -> str:
    try:
        parse(value)
    except ValueError as exc:
        raise PydanticCustomError("image_reference", str(exc)) from None
    return value


def _validate_tagged(value: str) -> str:
    _validate_reference(value)
    if "@" in value:
        raise PydanticCustomError(
            "image_reference", "a key of images.digests is a reference without a digest"
        )
    return value


def _validate_digest(value: str) -> str:
    if not is_digest(value):
        raise PydanticCustomError(
            "image_digest", "expected sha256:<64 lowercase hex> or sha512:<128 lowercase hex>"
        )
    return value


def _validate_registry(value: str) -> str:
    if not re.fullmatch(REGISTRY_PATTERN, value, re.ASCII):
        raise PydanticCustomError(
            "image_registry",
            "not a registry: expected host[:port][/path] (`mirror.example.com/kaos`), which "
            "every image name is moved under",
        )
    return value


def _schema(pattern: str, description: str) -> Any:
    return Field(json_schema_extra={"pattern": pattern}, description=description)


ImageRef = Annotated[
    str,
    AfterValidator(_validate_reference),
    _schema(REFERENCE_PATTERN, "Image reference: [registry/]repository[:tag][@sha256:digest]."),
]
TaggedImageRef = Annotated[
    str,
    AfterValidator(_validate_tagged),
    _schema(TAGGED_PATTERN, "Image reference without a digest: [registry/]repository[:tag]."),
]
Registry = Annotated[
    str,
    AfterValidator(_validate_registry),
    _schema(REGISTRY_PATTERN, "Registry host[:port][/path] that image names are moved under."),
]
Digest = Annotated[
    str,
    AfterValidator(_validate_digest),
    _schema(DIGEST_PATTERN, "Manifest digest: sha256:<64 lowercase hex>."),
]
