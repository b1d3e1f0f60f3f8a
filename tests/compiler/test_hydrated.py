"""Hydrated shards (`hydrated/<env>/<shard>/`) build, with the real `kubectl kustomize`, to
exactly the objects of `overlays/<env>`: for every example and test project, and for the
bench's synthetic project split into many shards. Each shard builds on its own and holds
whole workloads."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from support.compiler import PROJECTS, REPO, build_overlay, render_ok

from kaosgen.pipeline import compile_project


def identity(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


def write(files: dict[str, str], root: Path) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def shard_dirs(output: Path, env: str) -> list[Path]:
    return sorted(p for p in (output / "hydrated" / env).iterdir() if p.is_dir())


def assert_shards_equal_overlay(output: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Per environment: the union of its shards is the overlay's objects, each object in one
    shard. Returns env -> shard name -> objects."""
    built: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for overlay in sorted((output / "overlays").iterdir()):
        env = overlay.name
        expected = sorted(build_overlay(overlay), key=identity)
        shards = {d.name: build_overlay(d) for d in shard_dirs(output, env)}
        union = [o for objects in shards.values() for o in objects]
        twice = [k for k, n in Counter(map(identity, union)).items() if n > 1]
        assert not twice, f"{env}: objects in more than one shard: {twice}"
        assert [identity(o) for o in sorted(union, key=identity)] == [
            identity(o) for o in expected
        ], env
        for got, want in zip(sorted(union, key=identity), expected, strict=True):
            assert got == want, f"{env}: {identity(want)} differs from the overlay's"
        built[env] = shards
    return built


def _selector(obj: dict[str, Any]) -> dict[str, str]:
    spec = obj.get("spec") or {}
    if obj["kind"] == "Service":
        return spec.get("selector") or {}
    if obj["kind"] == "NetworkPolicy":
        return (spec.get("podSelector") or {}).get("matchLabels") or {}
    if obj["kind"] == "PodDisruptionBudget":
        return (spec.get("selector") or {}).get("matchLabels") or {}
    return {}


def assert_self_contained(shards: dict[str, list[dict[str, Any]]]) -> None:
    """Whatever belongs to a Deployment (its ServiceAccount, the Services, NetworkPolicies
    and PDBs selecting its pods, its HPA) is in the Deployment's shard."""
    deployments = {
        (o["metadata"].get("namespace"), o["metadata"]["name"]): (shard, o)
        for shard, objects in shards.items()
        for o in objects
        if o["kind"] == "Deployment"
    }
    accounts = {
        (o["metadata"].get("namespace"), o["metadata"]["name"])
        for objects in shards.values()
        for o in objects
        if o["kind"] == "ServiceAccount"
    }
    checked = 0
    for shard, objects in shards.items():
        present = {(o["kind"], o["metadata"]["name"]) for o in objects}
        for obj in objects:
            ns = obj["metadata"].get("namespace")
            if obj["kind"] == "Deployment":
                sa = obj["spec"]["template"]["spec"].get("serviceAccountName")
                if (ns, sa) in accounts:  # not one the user brings
                    assert ("ServiceAccount", sa) in present, (shard, sa)
            elif obj["kind"] == "HorizontalPodAutoscaler":
                target = obj["spec"]["scaleTargetRef"]["name"]
                assert deployments[(ns, target)][0] == shard, (shard, target)
                checked += 1
            selector = _selector(obj)
            if not selector:
                continue
            for (dns, name), (where, dep) in deployments.items():
                labels = dep["spec"]["template"]["metadata"]["labels"]
                if dns == ns and selector.items() <= labels.items():
                    assert where == shard, (
                        f"{obj['kind']} {obj['metadata']['name']} in {shard}, {name} in {where}"
                    )
                    checked += 1
    assert checked or not deployments


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_shards_build_to_the_overlay(project: str, tmp_path: Path) -> None:
    result = compile_project([str(PROJECTS[project])], output=str(tmp_path), hydrate_all=True)
    assert result.ok, result.diagnostics.items
    output = write(result.files, tmp_path / "out")
    built = assert_shards_equal_overlay(output)
    for shards in built.values():
        # Below the shard size: one shard, `all`, a plain list of objects.
        assert list(shards) == ["all"]
        assert_self_contained(shards)
        for rel in ("kustomization.yaml",):
            assert (output / "hydrated" / next(iter(built)) / "all" / rel).is_file()


def test_hydrated_kustomizations_have_no_transformers(tmp_path: Path) -> None:
    result = compile_project([str(PROJECTS["multi-agent"])], output=str(tmp_path), hydrate_all=True)
    kustomizations = [
        t
        for p, t in result.files.items()
        if p.startswith("hydrated/") and p.endswith("kustomization.yaml")
    ]
    assert kustomizations
    for text in kustomizations:
        body = [line for line in text.splitlines() if not line.startswith("#")]
        assert body == [
            "apiVersion: kustomize.config.k8s.io/v1beta1",
            "kind: Kustomization",
            "resources:",
            "- resources.yaml",
        ]


def synthetic_project(root: Path, agents: int, shard_size: int) -> Path:
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from render import write_project
    finally:
        sys.path.remove(str(REPO / "bench"))
    write_project(root, agents, max(1, agents // 10), 4)
    cfg = root / "kaosgen.yaml"
    text = cfg.read_text(encoding="utf-8")
    assert "\ngitops:\n" in text  # the bench's project is delivered by Flux
    text = text.replace("\ngitops:\n", f"\ngitops:\n  shardSize: {shard_size}\n  argocd: {{}}\n")
    cfg.write_text(text, encoding="utf-8")
    return root


def test_synthetic_project_in_many_shards(tmp_path: Path) -> None:
    """The bench's project (agents with peers and tools, Hosted and Proxy ModelAPIs, a
    registry rewrite and replicas in prod), 25 agents in shards of at most 10 workloads."""
    project = synthetic_project(tmp_path / "project", 25, 10)
    output = render_ok(project, tmp_path / "deploy")
    built = assert_shards_equal_overlay(output)
    for env, shards in built.items():
        assert list(shards) == [
            "agents-001",
            "agents-002",
            "agents-003",
            "models",
            "platform",
            "tools",
        ], env
        assert_self_contained(shards)
        counts = {
            name: sum(1 for o in objects if o["kind"] == "Deployment")
            for name, objects in shards.items()
        }
        assert counts == {
            "agents-001": 10,
            "agents-002": 10,
            "agents-003": 5,
            "models": 4,
            "platform": 0,
            "tools": 2,
        }, env


def test_growing_past_the_shard_size_removes_the_single_shard(tmp_path: Path) -> None:
    """Stale shards of an earlier render are removed; `--check` sees the hydrated files."""
    project = synthetic_project(tmp_path / "project", 8, 20)
    output = render_ok(project, tmp_path / "deploy")
    assert [p.name for p in shard_dirs(output, "dev")] == ["all"]
    cfg = project / "kaosgen.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("shardSize: 20", "shardSize: 4"))
    from support.compiler import render

    check = render(project, output, "--check")
    assert check.exit_code == 1
    assert "hydrated/dev/agents-001/resources.yaml" in check.output
    render_ok(project, output)
    assert [p.name for p in shard_dirs(output, "dev")] == [
        "agents-001",
        "agents-002",
        "models",
        "platform",
        "tools",
    ]
    assert not (output / "hydrated" / "dev" / "all").exists()
    assert render(project, output, "--check").exit_code == 0


@pytest.mark.parametrize(
    ("document", "line", "message"),
    [
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: x\n", 3, "metadata is not a mapping"),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels: [a, b]\n",
            5,
            "ConfigMap 'c': metadata.labels is not a mapping",
        ),
    ],
)
def test_a_document_kustomize_cannot_transform_is_an_error_at_its_place(
    tmp_path: Path, document: str, line: int, message: str
) -> None:
    """Hydrating needs what kustomize needs; a document without it stops the render with
    a clear error at the document (before, only `kubectl kustomize` failed, later)."""
    project = synthetic_project(tmp_path / "project", 3, 10)
    (project / "extra.yaml").write_text(document, encoding="utf-8")
    from support.compiler import assert_no_traceback, render

    result = render(project, tmp_path / "deploy")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert f"extra.yaml:{line}:" in result.output and message in result.output
    assert "[hydrate]" in result.output
    assert not (tmp_path / "deploy").exists()


def test_hydrate_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    """A kustomization field kaosgen never writes is a kaosgen bug, reported, not guessed."""
    from kaosgen import hydrate

    files = {
        "overlays/dev/kustomization.yaml": [{"resources": ["a.yaml"], "namePrefix": "x-"}],
        "overlays/dev/a.yaml": [
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
        ],
    }
    with pytest.raises(hydrate.HydrationError, match="namePrefix"):
        hydrate.hydrate(files, {}, ["dev"])


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("redis", ("redis", "", "")),
        ("redis:7", ("redis", "7", "")),
        ("localhost:5000/redis", ("localhost:5000/redis", "", "")),
        ("localhost:5000/redis:7@sha256:ab", ("localhost:5000/redis", "7", "sha256:ab")),
        ("docker.io/library/redis@sha256:ab", ("docker.io/library/redis", "", "sha256:ab")),
    ],
)
def test_images_split_as_kustomize_splits_them(image: str, expected: tuple[str, str, str]) -> None:
    from kaosgen.hydrate import split_image

    assert split_image(image) == expected


def test_digests_registry_rewrites_and_image_overrides_are_hydrated(tmp_path: Path) -> None:
    """`images.digests` (pinned in the base), environment image overrides that keep or drop
    a digest, a registry rewrite and a user's sidecar: the shards build like the overlay."""
    digest = {c: f"sha256:{c * 64}" for c in "abcdef0"}
    project = tmp_path / "project"
    project.mkdir()
    (project / "kaosgen.yaml").write_text(
        "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"
        "images:\n  agent: ghcr.io/acme/agent:1.0\n  digests:\n"
        f"    ghcr.io/acme/agent:1.0: {digest['a']}\n"
        f"    ghcr.io/acme/agent:2.0: {digest['b']}\n"
        f"    docker.io/library/redis:7.4.1-alpine: {digest['c']}\n"
        f"    docker.io/ollama/ollama:0.12.6: {digest['d']}\n"
        f"    docker.io/library/busybox:1.36: {digest['0']}\n"
        "components:\n  redis: true\n"
        "environments:\n"
        "  canary:\n    namespace: canary\n    images:\n      agent: ghcr.io/acme/agent:2.0\n"
        "  float:\n    namespace: float\n    images:\n      agent: ghcr.io/acme/agent:3.0\n"
        "  mirror:\n    namespace: mirror\n    registry: mirror.example.com\n"
        f"  inline:\n    images:\n      ollama: docker.io/ollama/ollama@{digest['e']}\n",
        encoding="utf-8",
    )
    (project / "resources.yaml").write_text(
        "apiVersion: kaos.tools/v1alpha1\nkind: ModelAPI\nmetadata: {name: llm}\n"
        "spec: {mode: Hosted, hostedConfig: {model: 'smollm2:135m'}}\n---\n"
        "apiVersion: kaos.tools/v1alpha1\nkind: MCPServer\nmetadata: {name: tools}\n"
        f"spec: {{runtime: custom, container: {{image: 'quay.io/acme/tools:1.2@{digest['f']}'}}}}\n"
        "---\napiVersion: kaos.tools/v1alpha1\nkind: Agent\nmetadata: {name: helper}\n"
        "spec:\n  modelAPI: llm\n  model: smollm2:135m\n  mcpServers: [tools]\n  podSpec:\n"
        "    containers:\n    - {name: sidecar, image: 'docker.io/library/busybox:1.36', "
        "command: [sleep, infinity]}\n",
        encoding="utf-8",
    )
    result = compile_project([str(project)], output=str(tmp_path / "x"), hydrate_all=True)
    assert result.ok, result.diagnostics.items
    output = write(result.files, tmp_path / "out")
    built = assert_shards_equal_overlay(output)
    images = {
        env: {
            c["image"]
            for o in shards["all"]
            if o["kind"] == "Deployment"
            for c in o["spec"]["template"]["spec"]["containers"]
        }
        for env, shards in built.items()
    }
    assert f"ghcr.io/acme/agent:2.0@{digest['b']}" in images["canary"]
    assert "ghcr.io/acme/agent:3.0" in images["float"]
    assert f"mirror.example.com/acme/agent:1.0@{digest['a']}" in images["mirror"]
    assert f"docker.io/ollama/ollama@{digest['e']}" in images["inline"]


#: User documents kustomize's namespace and name-reference transformers rewrite beyond
#: metadata.namespace (an outside review's repro, and cases measured with the real kubectl).
_PASSTHROUGH = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa1}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa2, namespace: other}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects:
- {kind: ServiceAccount, name: agent-helper, namespace: default}
- {kind: ServiceAccount, name: other, namespace: elsewhere}
- {kind: ServiceAccount, name: sa1, namespace: default}
- {kind: ServiceAccount, name: sa1}
- {kind: ServiceAccount, name: sa1, namespace: other}
- {kind: ServiceAccount, name: sa1, namespace: ""}
- {kind: ServiceAccount, name: sa2, namespace: other}
- {kind: ServiceAccount, name: sa2, namespace: default}
- {kind: ServiceAccount, name: sa2}
- {kind: ServiceAccount, name: nosa, namespace: default}
- {kind: ServiceAccount, name: nosa}
- {kind: ServiceAccount, name: default, namespace: x}
- {kind: ServiceAccount, name: default}
- {kind: User, name: default}
- {kind: User, name: sa1}
- {kind: Group, name: g, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: crb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects:
- {kind: ServiceAccount, name: agent-helper, namespace: default}
- {kind: ServiceAccount, name: sa1}
- {kind: ServiceAccount, name: nosa, namespace: default}
- {kind: ServiceAccount, name: default, namespace: kube-system}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm-other-ns, namespace: somewhere-else}
data: {a: "1"}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
spec:
  image: ghcr.io/acme/agent:1.0
  containers:
  - name: c
    image: ghcr.io/acme/agent:1.0
  deep:
    initContainers:
    - name: c
      image: ghcr.io/acme/agent:1.0
---
apiVersion: example.com/v1
kind: StatefulSet
metadata: {name: not-apps}
spec: {template: {metadata: {labels: {a: b}}}}
---
apiVersion: example.com/v1
kind: Job
metadata: {name: not-batch}
spec: {template: {metadata: {labels: {a: b}}}}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    image: ghcr.io/acme/agent:1.0
  volumes:
  - name: v
    image:
      reference: ghcr.io/acme/agent:1.0
  - {name: e, emptyDir: {}}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: vwc}
webhooks:
- name: a.example.com
  clientConfig:
    service: {name: svc, namespace: default, path: /x}
  admissionReviewVersions: [v1]
  sideEffects: None
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: mwc}
webhooks:
- {name: a, clientConfig: {service: {name: svc}}}
- {name: b, clientConfig: {service: {name: svc, namespace: other}}}
- {name: c, clientConfig: {url: "https://x"}}
- {name: d, clientConfig: {service: {name: nosvc, namespace: default}}}
---
apiVersion: v1
kind: Service
metadata: {name: svc}
spec:
  ports: [{port: 443}]
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: in-list}
  data: {a: b, n: 1.0}
- apiVersion: v1
  kind: List
  items:
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: nested, namespace: zz}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: after-the-list}
---
apiVersion: v1
kind: SecretList
metadata: {name: not-a-list}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: local
  annotations: {config.kubernetes.io/local-config: "true"}
---
apiVersion: v1
kind: Namespace
metadata: {name: side-ns}
---
apiVersion: v2
kind: Namespace
metadata: {name: not-v1}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: vap}
spec: {failurePolicy: Fail}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1.x.example.com}
spec:
  group: x.example.com
  version: v1
  groupPriorityMinimum: 10
  versionPriority: 10
  service: {name: svc, namespace: default}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1.local.example.com}
spec: {group: local.example.com, version: v1}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: [v1]
      clientConfig:
        service: {name: svc, namespace: default, path: /convert}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  names: {kind: Gadget, plural: gadgets}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true}]
  conversion:
    strategy: Webhook
    webhook: {clientConfig: {service: {name: svc}}}
"""


def _namespaces_project(root: Path) -> Path:
    root.mkdir()
    (root / "kaosgen.yaml").write_text(
        "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"
        "images:\n  agent: ghcr.io/acme/agent:1.0\n"
        "environments:\n"
        "  dev:\n    namespace: agents-dev\n    images:\n      agent: ghcr.io/acme/agent:2.0\n"
        "  plain:\n    labels: {team: a}\n    registry: mirror.example.com\n"
        "  default:\n    namespace: default\n",
        encoding="utf-8",
    )
    (root / "agents.yaml").write_text(
        "apiVersion: kaos.tools/v1alpha1\nkind: ModelAPI\nmetadata: {name: llm}\n"
        "spec: {mode: Hosted, hostedConfig: {model: 'smollm2:135m'}}\n---\n"
        "apiVersion: kaos.tools/v1alpha1\nkind: Agent\nmetadata: {name: helper}\n"
        "spec: {modelAPI: llm, model: 'smollm2:135m'}\n",
        encoding="utf-8",
    )
    (root / "extra.yaml").write_text(_PASSTHROUGH, encoding="utf-8")
    return root


def test_user_documents_are_namespaced_as_kustomize_does(tmp_path: Path) -> None:
    """RoleBinding subjects, webhook / APIService / CRD conversion services, Namespace
    objects, Lists, local-config documents, image volumes and kinds kustomize does not
    know: the shards build to exactly the overlay's objects in every environment."""
    project = _namespaces_project(tmp_path / "project")
    result = compile_project([str(project)], output=str(tmp_path / "x"), hydrate_all=True)
    assert result.ok, result.diagnostics.items
    output = write(result.files, tmp_path / "out")
    built = assert_shards_equal_overlay(output)
    dev = {(o["kind"], o["metadata"]["name"]): o for o in built["dev"]["all"]}
    # What the review found, now as kustomize builds it.
    subjects = dev[("RoleBinding", "rb")]["subjects"]
    assert subjects[0] == {
        "kind": "ServiceAccount",
        "name": "agent-helper",
        "namespace": "agents-dev",
    }
    assert subjects[1]["namespace"] == "elsewhere"
    assert [s.get("namespace") for s in subjects[2:6]] == ["agents-dev", "agents-dev", "other", ""]
    assert ("Namespace", "agents-dev") in dev and ("Namespace", "side-ns") not in dev
    assert dev[("ConfigMap", "in-list")]["metadata"]["namespace"] == "agents-dev"
    assert dev[("ConfigMap", "nested")]["metadata"]["namespace"] == "agents-dev"
    assert ("List", "") not in dev and ("ConfigMap", "local") not in dev
    assert (
        dev[("ValidatingWebhookConfiguration", "vwc")]["webhooks"][0]["clientConfig"]["service"][
            "namespace"
        ]
        == "agents-dev"
    )
    assert dev[("APIService", "v1.local.example.com")]["spec"]["service"] == {
        "namespace": "agents-dev"
    }
    widget = dev[("Widget", "w")]["spec"]
    assert widget["image"] == "ghcr.io/acme/agent:1.0"  # not a field kustomize knows
    assert widget["containers"][0]["image"] == "ghcr.io/acme/agent:2.0"
    assert dev[("Pod", "p")]["spec"]["volumes"][0]["image"]["reference"] == (
        "ghcr.io/acme/agent:2.0"
    )
    assert dev[("ValidatingAdmissionPolicy", "vap")]["metadata"]["namespace"] == "agents-dev"
    # Without a namespace, nothing is moved, so no reference follows anything.
    plain = {(o["kind"], o["metadata"]["name"]): o for o in built["plain"]["all"]}
    assert plain[("RoleBinding", "rb")]["subjects"][0]["namespace"] == "default"
    assert ("Namespace", "side-ns") in plain
    for name in ("not-apps", "not-batch"):  # labels reach only the real kinds' templates
        assert plain[("StatefulSet" if name == "not-apps" else "Job", name)]["spec"] == {
            "template": {"metadata": {"labels": {"a": "b"}}}
        }


@pytest.mark.parametrize(
    ("document", "line", "message"),
    [
        (
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n"
            "  metadata: [x]\n",
            6,
            "metadata is not a mapping",
        ),
        ("apiVersion: v1\nkind: List\nitems: {a: b}\n", 3, "items is not a list"),
        (
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: r}\n"
            "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: c}\n"
            "subjects:\n- {kind: ServiceAccount, namespace: default}\n",
            6,
            "has no name",
        ),
        (
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
            5,
            "makes it the same object as another Namespace",
        ),
    ],
)
def test_what_kustomize_cannot_namespace_is_an_error_at_its_place(
    tmp_path: Path, document: str, line: int, message: str
) -> None:
    project = _namespaces_project(tmp_path / "project")
    with (project / "kaosgen.yaml").open("a", encoding="utf-8") as cfg:
        cfg.write("gitops:\n  repository: {url: 'https://example.com/x.git', path: deploy}\n")
        cfg.write("  flux: {}\n")
    (project / "extra.yaml").write_text(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: sa}\n---\n" + document,
        encoding="utf-8",
    )
    from support.compiler import assert_no_traceback, render

    result = render(project, tmp_path / "deploy")
    assert_no_traceback(result)
    assert result.exit_code == 1, result.output
    assert f"extra.yaml:{line + 4}:" in result.output and message in result.output
    assert "[hydrate]" in result.output


# --- scalars as kubectl reads and kustomize prints them -------------------------------

#: Numbers YAML 1.2 reads otherwise than go-yaml (kubectl, kustomize) does, floats
#: kustomize prints as integers, and annotation values that are not strings.
_SCALARS = """\
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: c, image: busybox}]
  volumes:
  - {name: cm, configMap: {name: c, defaultMode: 0755}}
  - {name: s, secret: {secretName: s, defaultMode: 0400}}
---
apiVersion: v1
kind: Service
metadata:
  name: metrics
  annotations: {prometheus.io/scrape: true, prometheus.io/port: 9090, mode: 0755,
    ratio: 2.0, big: 1e3, none: ~, ok: "x"}
spec: {ports: [{port: 9090}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  replicas: 2.0
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: example.com/v1
kind: Numbers
metadata: {name: n}
spec:
  ints: [0755, -0755, +0755, 0o755, 0O17, 0x1F, 0X1F, -0x1F, +12, 1_000, 0b101, 0B11,
    08, 0x_1F, 1__0, 00, -0]
  floats: [2.0, 1e3, 1E3, 1e3_, -0.0, -2.0, 1e20, 1.5, 09.5, 1_0.5, .5, 3e-2, 9.3e18]
  text: ["0755", '0x1F', !!str 0O17, 0x, 0o8, 0xG, _1]
---
apiVersion: v1
kind: List
items:
- apiVersion: example.com/v1
  kind: Numbers
  metadata: {name: in-list}
  spec: {a: 0755, b: 2.0, c: 0X1F}
"""


def _typed(value: Any) -> str:
    """JSON text: 2 and 2.0, 1 and true, 493 and "493" differ (== does not tell them)."""
    import json

    return json.dumps(value, sort_keys=True)


def _by_name(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects}


def test_scalars_are_read_and_printed_as_kubectl_does(tmp_path: Path) -> None:
    """The user's own file through `kubectl kustomize`, the rendered base, the hydrated
    objects (what `kaosgen build` prints) and `kubectl kustomize overlays/<env>` all hold
    the same values, of the same types: `0755` is octal 493 (YAML 1.2 said 755),
    `replicas: 2.0` is 2, annotation values are strings."""
    from support.compiler import load_all

    user = tmp_path / "user"
    user.mkdir()
    (user / "extra.yaml").write_text(_SCALARS, encoding="utf-8")
    (user / "kustomization.yaml").write_text("resources: [extra.yaml]\n", encoding="utf-8")
    expected = _by_name(build_overlay(user))
    (user / "kustomization.yaml").unlink()

    project = _namespaces_project(tmp_path / "project")
    (project / "extra.yaml").write_text(_SCALARS, encoding="utf-8")
    result = compile_project([str(project)], output=str(tmp_path / "x"), hydrate_all=True)
    assert result.ok, result.diagnostics.items
    output = write(result.files, tmp_path / "out")
    built = assert_shards_equal_overlay(output)
    rendered = _by_name(
        [
            o
            for rel, text in result.files.items()
            if rel.startswith("base/") and rel.endswith(".yaml")
            for o in load_all(text)
            if isinstance(o, dict) and "metadata" in o
        ]
    )

    fields = {
        "p": ("spec", "volumes"),
        "metrics": ("metadata", "annotations"),
        "d": ("spec", "replicas"),
        "n": ("spec",),
        "in-list": ("spec",),
    }

    def at(obj: dict[str, Any], path: tuple[str, ...]) -> Any:
        for key in path:
            obj = obj[key]
        return obj

    # What kubectl makes of the user's file, as the tester saw it.
    assert at(expected["p"], fields["p"])[0]["configMap"]["defaultMode"] == 493
    assert at(expected["p"], fields["p"])[1]["secret"]["defaultMode"] == 0o400
    assert _typed(at(expected["metrics"], fields["metrics"])["prometheus.io/port"]) == '"9090"'
    assert _typed(at(expected["d"], fields["d"])) == "2"
    for env in built:
        overlay = _by_name(build_overlay(output / "overlays" / env))
        hydrated = _by_name(
            [
                o
                for shard in shard_dirs(output, env)
                for o in load_all((shard / "resources.yaml").read_text(encoding="utf-8"))
            ]
        )
        for name, path in fields.items():
            want = _typed(at(expected[name], path))
            assert _typed(at(hydrated[name], path)) == want, (env, name)
            assert _typed(at(overlay[name], path)) == want, (env, name)
    # The base as written holds the integers and strings kubectl reads (floats are
    # kustomize's to print: it turns 2.0 into 2 on its way out, as hydrate does).
    assert _typed(rendered["p"]["spec"]["volumes"]) == _typed(expected["p"]["spec"]["volumes"])
    for key in ("ints", "text"):
        assert _typed(rendered["n"]["spec"][key]) == _typed(expected["n"]["spec"][key]), key
    assert (
        rendered["metrics"]["metadata"]["annotations"]
        == (expected["metrics"]["metadata"]["annotations"])
    )
