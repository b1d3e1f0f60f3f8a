"""Image references: the grammar, and kustomize's `images:` semantics as kaosgen models them.

`images.apply_image_entries` predicts what `kustomize build` does to an image; the
listing (`kaosgen images`) and the overlays rely on it, so it is checked against the real
`kubectl kustomize` over references of every shape.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.compiler import build_overlay

from kaosgen import imageref, images

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64

VALID = {
    # reference: (name, registry, repository, tag, digest)
    "redis": ("redis", "docker.io", "library/redis", None, None),
    "redis:7.4": ("redis", "docker.io", "library/redis", "7.4", None),
    "library/redis": ("library/redis", "docker.io", "library/redis", None, None),
    "docker.io/redis": ("docker.io/redis", "docker.io", "library/redis", None, None),
    "index.docker.io/ollama/ollama:0.12": (
        "index.docker.io/ollama/ollama",
        "docker.io",
        "ollama/ollama",
        "0.12",
        None,
    ),
    f"ghcr.io/x/a:1.0@{D1}": ("ghcr.io/x/a", "ghcr.io", "x/a", "1.0", D1),
    f"ghcr.io/x/a@{D1}": ("ghcr.io/x/a", "ghcr.io", "x/a", None, D1),
    "localhost/app": ("localhost/app", "localhost", "app", None, None),
    "localhost:5000/team/app_x-y__z.w:v1.2.3-rc.1": (
        "localhost:5000/team/app_x-y__z.w",
        "localhost:5000",
        "team/app_x-y__z.w",
        "v1.2.3-rc.1",
        None,
    ),
    "127.0.0.1:5000/a/b/c:t": ("127.0.0.1:5000/a/b/c", "127.0.0.1:5000", "a/b/c", "t", None),
    "[::1]:5000/x:1": ("[::1]:5000/x", "[::1]:5000", "x", "1", None),
    "Registry.Example.com/x:_t": (
        "Registry.Example.com/x",
        "Registry.Example.com",
        "x",
        "_t",
        None,
    ),
}

INVALID = {
    "": "cannot be empty",
    "a b": "whitespace",
    "redis\n": "whitespace",
    "Redis": "lowercase",
    "ghcr.io/Acme/app": "lowercase",
    "a:1:2": "more than one ':'",
    "a@sha256:abc": "is not sha256:<64 hex>",
    f"a@sha256:{'A' * 64}": "is not sha256:<64 hex>",
    f"a@md5:{'1' * 32}": "is not sha256:<64 hex>",
    "a:": "not an image reference",
    "a/": "not an image reference",
    "a//b": "not an image reference",
    "-a": "not an image reference",
    "a:" + "t" * 129: "not an image reference",
    "a/" + "b" * 255: "longer than 255",
}


@pytest.mark.parametrize("ref", sorted(VALID))
def test_valid_references(ref: str) -> None:
    parsed = imageref.parse(ref)
    assert (
        parsed.name,
        parsed.registry,
        parsed.repository,
        parsed.tag,
        parsed.digest,
    ) == VALID[ref]
    assert str(parsed) == ref
    assert imageref.parse(parsed.tagged).digest is None


@pytest.mark.parametrize("ref", sorted(INVALID))
def test_invalid_references(ref: str) -> None:
    with pytest.raises(ValueError, match=INVALID[ref].replace("(", r"\(").replace("+", r"\+")):
        imageref.parse(ref)


def test_docker_hub_is_asked_at_its_api_host() -> None:
    assert imageref.parse("redis").registry_host == "registry-1.docker.io"
    assert imageref.parse("ghcr.io/x/a").registry_host == "ghcr.io"


# --- kustomize's images: ------------------------------------------------------------------

REFS = [
    "ghcr.io/x/a:1.0",
    f"ghcr.io/x/b:1.0@{D1}",
    f"ghcr.io/x/c@{D1}",
    "ghcr.io/x/d",
    "redis:7",
    "docker.io/library/nginx:1.27",
    "localhost:5000/x/e:2",
    f"127.0.0.1:5000/x/f@{D1}",
    "registry.example.com:8443/team/app_x-y:v1.2.3-rc.1",
]

ENTRY_KINDS = {
    "new-name": {"newName": "mirror.example.com/m"},
    "new-tag": {"newTag": "9.9"},
    "digest": {"digest": D2},
    "tag-and-digest": {"newTag": "9.9", "digest": D2},
    "name-and-digest": {"newName": "mirror.example.com/m", "digest": D2},
    "everything": {"newName": "mirror.example.com/m", "newTag": "9.9", "digest": D2},
}


@pytest.mark.parametrize("kind", sorted(ENTRY_KINDS))
def test_image_entries_match_kubectl_kustomize(tmp_path: Path, kind: str) -> None:
    containers = [{"name": f"c{i}", "image": ref} for i, ref in enumerate(REFS)]
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"containers": containers, "initContainers": containers[:2]},
            },
        },
    }
    names = sorted({imageref.parse(ref).name for ref in REFS})
    entries = [{"name": name, **ENTRY_KINDS[kind]} for name in names]
    (tmp_path / "d.json").write_text(json.dumps(deployment))
    (tmp_path / "kustomization.yaml").write_text(
        json.dumps({"resources": ["d.json"], "images": entries})
    )
    (built,) = build_overlay(tmp_path)
    got = [c["image"] for c in built["spec"]["template"]["spec"]["containers"]]
    assert got == [images.apply_image_entries(ref, entries) for ref in REFS]
    init = [c["image"] for c in built["spec"]["template"]["spec"]["initContainers"]]
    assert init == got[:2]


def test_an_entry_for_another_name_changes_nothing() -> None:
    entries = [{"name": "ghcr.io/x/a:1.0", "newTag": "2"}, {"name": "ghcr.io/x", "newTag": "2"}]
    assert images.apply_image_entries("ghcr.io/x/a:1.0", entries) == "ghcr.io/x/a:1.0"


def test_pin_ref_and_unpinned_are_inverse() -> None:
    digests = {"ghcr.io/x/a:1": D1}
    assert images.pin_ref("ghcr.io/x/a:1", digests) == f"ghcr.io/x/a:1@{D1}"
    assert images.pin_ref(f"ghcr.io/x/a:1@{D2}", digests) == f"ghcr.io/x/a:1@{D2}"
    assert images.pin_ref("ghcr.io/x/a:2", digests) == "ghcr.io/x/a:2"
    assert images.unpinned(f"ghcr.io/x/a:1@{D1}", digests) == "ghcr.io/x/a:1"
    # A digest written in the reference itself (not from the map) stays.
    assert images.unpinned(f"ghcr.io/x/a:1@{D2}", digests) == f"ghcr.io/x/a:1@{D2}"
