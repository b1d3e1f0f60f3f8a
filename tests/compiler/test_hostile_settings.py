"""Settings `validate` used to accept although render, Kubernetes or Flux refuse them (or
that crashed kaosgen): each is now an error at its file, line and column, and render
writes nothing.

Found by fuzzing the CLI from outside: an `output:` with a NUL byte (a traceback), an
`output:` that is a file or lies under one (render failed with no location), and values
rendered verbatim into objects the API server or the kubelet refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from support.compiler import assert_no_traceback, run_kaosgen, validate_json

RESOURCES = """\
apiVersion: kaos.tools/v1alpha1
kind: ModelAPI
metadata: {name: llm}
spec: {mode: Hosted, hostedConfig: {model: "smollm2:135m"}}
---
apiVersion: kaos.tools/v1alpha1
kind: Agent
metadata: {name: a}
spec:
  modelAPI: llm
  model: "smollm2:135m"
"""
MARK = "⟦⟧"


@dataclass
class Case:
    id: str
    #: The file holding the marker `⟦⟧` (where the error must point), and its text.
    file: str
    text: str
    rule: str
    message: str
    #: Extra files (name -> text) the case needs besides kaosgen.yaml and resources.yaml.
    extra: dict[str, str] | None = None


def _project(body: str) -> str:
    return "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n" + body


CASES = [
    Case(
        "output-with-a-nul-byte",
        "kaosgen.yaml",
        _project(f'output: {MARK}"a\\0b"\n'),
        "schema-type",
        "output: a path cannot contain a NUL character (\\0): no file system allows it; "
        "remove it (got 'a\\x00b')",
    ),
    Case(
        "output-is-a-file",
        "kaosgen.yaml",
        _project(f"output: {MARK}notes.txt\n"),
        "output-dir",
        "the output directory 'notes.txt' cannot be created: notes.txt exists and is not "
        "a directory",
        extra={"notes.txt": "not yaml\n"},
    ),
    Case(
        "output-under-a-file",
        "kaosgen.yaml",
        _project(f"output: {MARK}notes.txt/deploy\n"),
        "output-dir",
        "the output directory 'notes.txt/deploy' cannot be created: notes.txt exists and is "
        "not a directory",
        extra={"notes.txt": "not yaml\n"},
    ),
]


ENV_NAME = (
    "an environment variable name is printable ASCII without '=' (the API server refuses "
    "the Deployment otherwise); use letters, digits and '_'"
)
CASES += [
    Case(
        "env-var-name-with-equals",
        "resources.yaml",
        RESOURCES + f"  container: {{env: [{{name: {MARK}A=B, value: x}}]}}\n",
        "schema-type",
        f"spec.container.env[0].name: {ENV_NAME} (got 'A=B')",
    ),
    Case(
        "env-var-name-with-a-line-break",
        "resources.yaml",
        RESOURCES + f'  container: {{env: [{{name: {MARK}"A\\nB", value: x}}]}}\n',
        "schema-type",
        f"spec.container.env[0].name: {ENV_NAME} (got 'A\\nB')",
    ),
    Case(
        "env-var-name-in-a-pod-spec-container",
        "resources.yaml",
        RESOURCES
        + f"  podSpec: {{containers: [{{name: agent, env: [{{name: {MARK}'X=1', value: x}}]}}]}}\n",
        "schema-type",
        f"spec.podSpec.containers[0].env[0].name: {ENV_NAME} (got 'X=1')",
    ),
    Case(
        "mcp-runtime-params-env",
        "kaosgen.yaml",
        _project(f"images:\n  mcpRuntimes:\n    x: {{image: 'a/b:1', paramsEnv: {MARK}'P=Q'}}\n"),
        "schema-type",
        f"images.mcpRuntimes.x.paramsEnv: {ENV_NAME} (got 'P=Q')",
    ),
]

CASES += [
    Case(
        "registry-that-is-no-registry",
        "kaosgen.yaml",
        _project(f"environments:\n  dev:\n    registry: {MARK}'Mirror Host!'\n"),
        "schema-type",
        "environments.dev.registry: not a registry: expected host[:port][/path] "
        "(`mirror.example.com/kaos`), which every image name is moved under (got 'Mirror Host!')",
    ),
    Case(
        "registry-that-is-a-slash",
        "kaosgen.yaml",
        _project(f"environments:\n  dev:\n    registry: {MARK}/\n"),
        "schema-type",
        "environments.dev.registry: not a registry: expected host[:port][/path] "
        "(`mirror.example.com/kaos`), which every image name is moved under (got '/')",
    ),
]

CASES += [
    Case(
        "flux-git-url-scp-like",
        "kaosgen.yaml",
        _project(f"gitops:\n  repository: {{url: {MARK}'git@github.com:o/r.git'}}\n  flux: {{}}\n"),
        "gitops-source",
        "environment 'default': Flux's GitRepository takes an http://, https:// or ssh:// "
        "URL, not 'git@github.com:o/r.git' (the API server refuses the object)",
    ),
    Case(
        "flux-git-url-of-an-environment",
        "kaosgen.yaml",
        _project(
            "gitops:\n  repository: {url: 'https://example.com/r.git'}\n  flux: {}\n"
            "environments:\n  dev:\n    gitops:\n"
            f"      flux: {{source: {{url: {MARK}'example.com/r.git'}}}}\n"
        ),
        "gitops-source",
        "environment 'dev': Flux's GitRepository takes an http://, https:// or ssh:// "
        "URL, not 'example.com/r.git' (the API server refuses the object)",
    ),
    Case(
        "flux-target-namespace-too-long",
        "kaosgen.yaml",
        _project(
            "gitops:\n  repository: {url: 'https://example.com/r.git'}\n"
            f"  flux: {{targetNamespace: {MARK}{'n' * 64}}}\n"
        ),
        "schema-length",
        f"gitops.flux.targetNamespace: string should have at most 63 characters (got '{'n' * 64}')",
    ),
]

HOSTNAME = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
CASES += [
    Case(
        "gateway-hostname-with-a-space",
        "kaosgen.yaml",
        _project(f"gateway:\n  enabled: true\n  hostnames: [ok.example.com, {MARK}'A B']\n"),
        "schema-pattern",
        f"gateway.hostnames[1]: string should match pattern '{HOSTNAME}' (got 'A B')",
    ),
    Case(
        "gateway-hostname-of-an-environment",
        "kaosgen.yaml",
        _project(
            "gateway: {enabled: true}\nenvironments:\n  dev:\n"
            f"    gateway: {{hostnames: [{MARK}'*']}}\n"
        ),
        "schema-pattern",
        f"environments.dev.gateway.hostnames[0]: string should match pattern '{HOSTNAME}' "
        "(got '*')",
    ),
    Case(
        "gateway-parent-namespace",
        "kaosgen.yaml",
        _project(
            f"gateway:\n  enabled: true\n  parentRef: {{name: gw, namespace: {MARK}Gateways}}\n"
        ),
        "schema-pattern",
        "gateway.parentRef.namespace: string should match pattern "
        "'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' (got 'Gateways')",
    ),
    Case(
        "gateway-parent-section",
        "kaosgen.yaml",
        _project(
            f"gateway:\n  enabled: true\n  parentRef: {{name: gw, sectionName: {MARK}'https 1'}}\n"
        ),
        "schema-pattern",
        "gateway.parentRef.sectionName: string should match pattern "
        "'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' (got 'https 1')",
    ),
]

CALLERS = "workloads:\n  agent/a:\n    callers:\n    - "
LABEL_KEY = (
    "not a label key: an optional DNS-subdomain prefix and '/', then at most 63 letters, "
    "digits, '-', '_' or '.', starting and ending with a letter or digit"
)
LABEL_VALUE = (
    "not a label value: at most 63 letters, digits, '-', '_' or '.', starting and ending "
    "with a letter or digit"
)
CASES += [
    Case(
        "caller-label-key",
        "kaosgen.yaml",
        _project(CALLERS + f"podSelector: {{matchLabels: {{{MARK}'app name': web}}}}\n"),
        "schema-type",
        f"workloads.agent/a.callers[0].podSelector.matchLabels.app name: {LABEL_KEY} "
        "(got 'app name')",
    ),
    Case(
        "caller-label-value",
        "kaosgen.yaml",
        _project(
            CALLERS + f"podSelector: {{matchExpressions: [{{key: app, operator: In, "
            f"values: [{MARK}'web ui']}}]}}\n"
        ),
        "schema-type",
        f"workloads.agent/a.callers[0].podSelector.matchExpressions[0].values[0]: "
        f"{LABEL_VALUE} (got 'web ui')",
    ),
    Case(
        "caller-exists-with-values",
        "kaosgen.yaml",
        _project(
            CALLERS + f"namespaceSelector: {{matchExpressions: [{MARK}{{key: team, "
            "operator: Exists, values: [a]}]}\n"
        ),
        "schema-type",
        "workloads.agent/a.callers[0].namespaceSelector.matchExpressions[0]: operator Exists "
        "takes no values; remove them (got {'key': 'team', 'operator': 'Exists', "
        "'values': ['a']})",
    ),
    Case(
        "caller-in-without-values",
        "kaosgen.yaml",
        _project(
            CALLERS
            + f"namespaceSelector: {{matchExpressions: [{MARK}{{key: team, operator: In}}]}}\n"
        ),
        "schema-type",
        "workloads.agent/a.callers[0].namespaceSelector.matchExpressions[0]: operator In "
        "needs at least one value (got {'key': 'team', 'operator': 'In'})",
    ),
    Case(
        "dns-namespace",
        "kaosgen.yaml",
        _project(f"security: {{dnsNamespace: {MARK}'Kube System'}}\n"),
        "schema-pattern",
        "security.dnsNamespace: string should match pattern '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' "
        "(got 'Kube System')",
    ),
]

CONFIG_MAP = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
CASES += [
    Case(
        "kind-that-is-a-list",
        "resources.yaml",
        RESOURCES + CONFIG_MAP.replace("kind: ConfigMap", f"kind: {MARK}[]"),
        "not-an-object",
        "kind is a list, not a string",
    ),
    Case(
        "kind-that-is-a-mapping",
        "resources.yaml",
        RESOURCES + CONFIG_MAP.replace("kind: ConfigMap", f"kind: {MARK}{{a: b}}"),
        "not-an-object",
        "kind is a mapping, not a string",
    ),
    Case(
        "kind-with-a-space",
        "resources.yaml",
        RESOURCES + CONFIG_MAP.replace("kind: ConfigMap", f"kind: {MARK}Config Map"),
        "not-an-object",
        "kind 'Config Map' is not a Kubernetes kind",
    ),
    Case(
        "api-version-empty",
        "resources.yaml",
        RESOURCES + CONFIG_MAP.replace("apiVersion: v1", f"apiVersion: {MARK}''"),
        "not-an-object",
        "apiVersion '' is not a Kubernetes apiVersion",
    ),
    Case(
        "api-version-with-two-slashes",
        "resources.yaml",
        RESOURCES + CONFIG_MAP.replace("apiVersion: v1", f"apiVersion: {MARK}apps/v1/x"),
        "not-an-object",
        "apiVersion 'apps/v1/x' is not a Kubernetes apiVersion",
    ),
]
CASES += [
    Case(
        "pod-spec-deleting-the-image",
        "resources.yaml",
        RESOURCES + f"  podSpec: {{{MARK}containers: [{{name: agent, image: null}}]}}\n",
        "pod-spec-patch",
        "Agent 'a': the podSpec patch breaks the pod: container 'agent' has no image",
    ),
    Case(
        "pod-spec-init-container-without-an-image",
        "resources.yaml",
        RESOURCES + f"  podSpec: {{{MARK}initContainers: [{{name: init, command: ['true']}}]}}\n",
        "pod-spec-patch",
        "Agent 'a': the podSpec patch breaks the pod: container 'init' has no image",
    ),
]

GITIGNORE = (
    "not a .gitignore pattern (`!` needs a pattern after it; a trailing `\\` escapes nothing)"
)
CASES += [
    Case(
        "exclude-bang",
        "kaosgen.yaml",
        _project(f"exclude: [ci/, {MARK}'!']\n"),
        "schema-type",
        f"exclude[1]: {GITIGNORE} (got '!')",
    ),
    Case(
        "exclude-trailing-backslash",
        "kaosgen.yaml",
        _project(f"exclude:\n- {MARK}'notes\\'\n"),
        "schema-type",
        f"exclude[0]: {GITIGNORE} (got 'notes\\\\')",
    ),
]

RESOURCE = (
    "not a container resource: cpu, memory, ephemeral-storage, hugepages-<size>, or a "
    "domain-prefixed name such as nvidia.com/gpu"
)
CASES += [
    Case(
        "resource-name-without-a-domain",
        "kaosgen.yaml",
        _project(f"workloads:\n  agent/a:\n    resources: {{limits: {{{MARK}gpu: 1}}}}\n"),
        "schema-type",
        f"workloads.agent/a.resources.limits.gpu: {RESOURCE} (got 'gpu')",
    ),
    Case(
        "resource-name-in-an-agent",
        "resources.yaml",
        RESOURCES + f"  container: {{resources: {{requests: {{{MARK}'a/b/c': '1'}}}}}}\n",
        "schema-type",
        f"spec.container.resources.requests.a/b/c: {RESOURCE} (got 'a/b/c')",
    ),
    Case(
        "storage-class-name",
        "kaosgen.yaml",
        _project(
            f"workloads:\n  modelapi/llm:\n    modelStorage: {{storageClassName: {MARK}'Fast SSD'}}\n"
        ),
        "schema-pattern",
        "workloads.modelapi/llm.modelStorage.storageClassName: string should match pattern "
        "'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' (got 'Fast SSD')",
    ),
]

SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
MCP = (
    "---\napiVersion: kaos.tools/v1alpha1\nkind: MCPServer\nmetadata: {name: t}\n"
    "spec:\n  runtime: custom\n  container: {image: 'x:1'}\n"
)
CASES += [
    Case(
        "mcpserver-service-account",
        "resources.yaml",
        RESOURCES + MCP + f"  serviceAccountName: {MARK}'Tools SA'\n",
        "schema-pattern",
        f"spec.serviceAccountName: string should match pattern '{SUBDOMAIN}' (got 'Tools SA')",
    ),
    Case(
        "pod-spec-service-account",
        "resources.yaml",
        RESOURCES + f"  podSpec: {{serviceAccountName: {MARK}'Agent SA'}}\n",
        "schema-pattern",
        f"spec.podSpec.serviceAccountName: string should match pattern '{SUBDOMAIN}' "
        "(got 'Agent SA')",
    ),
    Case(
        "pod-spec-container-name",
        "resources.yaml",
        RESOURCES + f"  podSpec: {{containers: [{{name: {MARK}'Side Car', image: 'x:1'}}]}}\n",
        "schema-pattern",
        "spec.podSpec.containers[0].name: string should match pattern "
        "'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' (got 'Side Car')",
    ),
    Case(
        "pod-spec-port-name",
        "resources.yaml",
        RESOURCES + "  podSpec: {containers: [{name: agent, ports: "
        f"[{{containerPort: 9000, name: {MARK}metrics-port-of-agent}}]}}]}}\n",
        "schema-type",
        "spec.podSpec.containers[0].ports[0].name: not a port name: at most 15 lower-case "
        "letters, digits and single '-', with a letter, not starting or ending with '-' "
        "(e.g. http) (got 'metrics-port-of-agent')",
    ),
    Case(
        "pod-spec-node-selector",
        "resources.yaml",
        RESOURCES + f"  podSpec: {{nodeSelector: {{disk: {MARK}'fast ssd'}}}}\n",
        "schema-type",
        f"spec.podSpec.nodeSelector.disk: {LABEL_VALUE} (got 'fast ssd')",
    ),
]

CASES += [
    Case(
        "secret-key-with-a-space",
        "resources.yaml",
        RESOURCES + "  container: {env: [{name: X, valueFrom: {secretKeyRef: "
        f"{{name: creds, key: {MARK}'api key'}}}}}}]}}\n",
        "schema-pattern",
        "spec.container.env[0].valueFrom.secretKeyRef.key: string should match pattern "
        "'^[-._a-zA-Z0-9]+$' (got 'api key')",
    ),
    Case(
        "config-map-name-upper-case",
        "resources.yaml",
        RESOURCES + "  container: {env: [{name: X, valueFrom: {configMapKeyRef: "
        f"{{name: {MARK}Settings, key: a}}}}}}]}}\n",
        "schema-pattern",
        "spec.container.env[0].valueFrom.configMapKeyRef.name: string should match pattern "
        f"'^({SUBDOMAIN[1:-1]})?$' (got 'Settings')",
    ),
]


def test_the_hint_rewrites_an_scp_like_url(tmp_path: Path) -> None:
    _write(CASES[[c.id for c in CASES].index("flux-git-url-scp-like")], tmp_path)
    _, diagnostics = validate_json(".", cwd=tmp_path)
    assert [d["hint"] for d in diagnostics] == ["write it as ssh://git@github.com/o/r.git"]


def test_argo_cd_alone_takes_an_scp_like_url(tmp_path: Path) -> None:
    (tmp_path / "kaosgen.yaml").write_text(
        _project("gitops:\n  repository: {url: 'git@github.com:o/r.git'}\n  argocd: {}\n"),
        encoding="utf-8",
    )
    (tmp_path / "resources.yaml").write_text(RESOURCES, encoding="utf-8")
    code, diagnostics = validate_json(".", cwd=tmp_path)
    assert (code, [d for d in diagnostics if d["severity"] == "error"]) == (0, [])


def _write(case: Case, root: Path) -> tuple[int, int]:
    """Write the case's files; return the marker's line and column (1-based)."""
    files = {"kaosgen.yaml": _project(""), "resources.yaml": RESOURCES, **(case.extra or {})}
    files[case.file] = case.text
    for name, text in files.items():
        (root / name).write_text(text.replace(MARK, ""), encoding="utf-8")
    before = case.text[: case.text.index(MARK)]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_validate_reports_it_where_it_is(case: Case, tmp_path: Path) -> None:
    line, column = _write(case, tmp_path)
    code, diagnostics = validate_json(".", cwd=tmp_path)
    assert code == 1
    found = [(d["file"], d["line"], d["column"], d["rule"], d["message"]) for d in diagnostics]
    assert (case.file, line, column, case.rule, case.message) in found, found


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_render_refuses_it_and_writes_nothing(case: Case, tmp_path: Path) -> None:
    _write(case, tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = run_kaosgen("render", ".", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.exit_code == 1, result.output
    assert f"{case.file}:" in result.stderr and f"[{case.rule}]" in result.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_gitops_in_one_environment_only_validates_and_renders(tmp_path: Path) -> None:
    """`environments.<env>.gitops` without a top-level block: the other environments have
    no gitops settings at all (the check raised an AttributeError on them)."""
    (tmp_path / "kaosgen.yaml").write_text(
        _project(
            "environments:\n  dev: {}\n  prod:\n    gitops:\n"
            "      repository: {url: 'https://example.com/r.git'}\n      flux: {}\n"
        ),
        encoding="utf-8",
    )
    (tmp_path / "resources.yaml").write_text(RESOURCES, encoding="utf-8")
    code, diagnostics = validate_json(".", cwd=tmp_path)
    assert (code, [d for d in diagnostics if d["severity"] == "error"]) == (0, [])
    result = run_kaosgen("render", ".", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "deploy" / "clusters").iterdir()) == ["prod"]
