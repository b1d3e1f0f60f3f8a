"""One test per validation rule: the exact file, line, column, rule id and message.

Each case is a small project written to a temporary directory. `⟦n⟧` markers in the YAML
text mark where a diagnostic must point (they are removed before the file is written), so
the expected positions are visible right in the input. `kaosgen validate --format json`
must report exactly the expected diagnostics: nothing missing, nothing extra.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support.compiler import assert_no_traceback, run_kaosgen, tree, validate_json

_MARK = re.compile(r"⟦(\w+)⟧")

#: Valid documents every case can refer to: two ModelAPIs and an MCP server.
BASE = """\
apiVersion: kaos.tools/v1alpha1
kind: ModelAPI
metadata:
  name: ollama
spec:
  mode: Hosted
  hostedConfig:
    model: smollm2:135m
---
apiVersion: kaos.tools/v1alpha1
kind: ModelAPI
metadata:
  name: proxy
spec:
  mode: Proxy
  proxyConfig:
    models: [gpt-4o, "openai/*"]
---
apiVersion: kaos.tools/v1alpha1
kind: MCPServer
metadata:
  name: tools
spec:
  runtime: python-string
  params: |
    def echo(text: str) -> str:
        return text
"""

AGENT_HEAD = """\
apiVersion: kaos.tools/v1alpha1
kind: Agent
metadata:
  name: a
spec:
"""


@dataclass
class Case:
    id: str
    files: dict[str, str]
    #: (marker, severity, rule, message); the marker gives file, line and column.
    expected: list[tuple[str, str, str, str]]
    hints: dict[str, str] = field(default_factory=dict)
    base: bool = True


def strip_markers(files: dict[str, str]) -> tuple[dict[str, str], dict[str, tuple[str, int, int]]]:
    """Remove the markers; return the clean texts and where each marker was (1-based)."""
    clean: dict[str, str] = {}
    where: dict[str, tuple[str, int, int]] = {}
    for name, text in files.items():
        lines = []
        for lineno, line in enumerate(text.split("\n"), start=1):
            while (m := _MARK.search(line)) is not None:
                where[m.group(1)] = (name, lineno, m.start() + 1)
                line = line[: m.start()] + line[m.end() :]
            lines.append(line)
        clean[name] = "\n".join(lines)
    return clean, where


def write_case(case: Case, directory: Path) -> dict[str, tuple[str, int, int]]:
    files = dict(case.files)
    if case.base:
        files.setdefault("base.yaml", BASE)
    clean, where = strip_markers(files)
    for name, text in clean.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        # `<0xff>` stands in for a byte that is not UTF-8.
        path.write_bytes(text.encode("utf-8").replace(b"<0xff>", b"\xff"))
    return where


def agent(body: str, head: str = AGENT_HEAD) -> str:
    return head + textwrap.indent(textwrap.dedent(body), "  ")


def doc(kind: str, name: str, spec: str) -> str:
    return (
        f"apiVersion: kaos.tools/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n"
        + textwrap.indent(textwrap.dedent(spec), "  ")
    )


E, W, N = "error", "warning", "note"

CASES = [
    # --- YAML -------------------------------------------------------------------------
    Case(
        "yaml-syntax",
        {
            "case.yaml": agent("""\
                modelAPI: ollama
                model: smollm2:135m
                config:
                  instructions: ⟦1⟧"unterminated
                mcpServers: [tools]
                """)
        },
        [
            (
                "1",
                E,
                "yaml-syntax",
                "YAML syntax error: found unexpected end of stream (while scanning a quoted scalar)",
            )
        ],
    ),
    Case(
        "yaml-syntax-tab",
        {"case.yaml": AGENT_HEAD + "  modelAPI: ollama\n⟦1⟧\tmodel: x\n"},
        [
            (
                "1",
                E,
                "yaml-syntax",
                "YAML syntax error: found a tab character that violates indentation (while scanning a plain scalar)",
            )
        ],
    ),
    Case(
        "yaml-duplicate-key",
        {
            "case.yaml": agent("""\
                modelAPI: ollama
                model: smollm2:135m
                ⟦1⟧model: smollm2:135m
                """)
        },
        [("1", E, "yaml-duplicate-key", "duplicate key 'model': YAML keeps only one of them")],
    ),
    Case(
        "yaml-syntax-control-character",
        {
            # One error a file: reading stops at the first such character.
            "case.yaml": AGENT_HEAD + "  modelAPI: ollama\n  model: small⟦1⟧\x01model\n",
            "other.yaml": AGENT_HEAD + '  modelAPI: ollama\n  model: "big⟦2⟧\x7fmodel"\n',
        },
        [
            (
                "1",
                E,
                "yaml-syntax",
                "YAML syntax error: the character U+0001 is not allowed in YAML (only printable characters are)",
            ),
            (
                "2",
                E,
                "yaml-syntax",
                "YAML syntax error: the character U+007F is not allowed in YAML (only printable characters are)",
            ),
        ],
        hints={
            "1": 'remove it (an invisible character, often pasted in), or write it as an escape in a double-quoted string ("\\x01")',
            "2": "remove it (an invisible character, often pasted in)",
        },
    ),
    Case(
        "encoding",
        {"case.yaml": "apiVersion: v1\nkind: ConfigMap\ndata:\n  k: ⟦1⟧<0xff>\n"},
        [("1", E, "encoding", "file is not valid UTF-8 (byte 0xff)")],
    ),
    Case(
        "unsupported-character",
        {
            "case.yaml": agent("""\
                modelAPI: ollama
                model: smollm2:135m
                config:
                  instructions: ⟦1⟧"line\\Nnext"
                  description: ⟦2⟧"\\x7f"
                """)
        },
        [
            (
                "1",
                E,
                "unsupported-character",
                "text contains U+0085 (a control character), which kubectl kustomize cannot carry",
            ),
            (
                "2",
                E,
                "unsupported-character",
                "text contains U+007F (a control character), which kubectl kustomize cannot carry",
            ),
        ],
    ),
    # --- documents --------------------------------------------------------------------
    Case(
        "not-an-object",
        {
            "case.yaml": "⟦1⟧- just\n- a list\n---\n⟦2⟧metadata: {name: x}\n---\n"
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
        },
        [
            (
                "1",
                E,
                "not-an-object",
                "document is not a Kubernetes object (a mapping with apiVersion and kind)",
            ),
            ("2", E, "not-an-object", "document has no apiVersion"),
        ],
    ),
    Case(
        "not-kubernetes",
        {"notes.yaml": "⟦1⟧todo:\n- write the agents\n---\n- and the tools\n"},
        [
            (
                "1",
                E,
                "not-kubernetes",
                "file holds no Kubernetes object (no document has apiVersion and kind)",
            )
        ],
        hints={
            "1": "if the file is not meant for kaosgen, move it out of the inputs, or create "
            "kaosgen.yaml with `exclude: [notes.yaml]`"
        },
    ),
    Case(
        "not-kubernetes-in-a-project",
        {
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n",
            "ci/pipeline.yaml": "⟦1⟧stages: [test]\n",
        },
        [
            (
                "1",
                E,
                "not-kubernetes",
                "file holds no Kubernetes object (no document has apiVersion and kind)",
            )
        ],
        hints={
            "1": "if the file is not meant for kaosgen, exclude it: add `exclude: [ci/pipeline.yaml]` "
            "to kaosgen.yaml"
        },
    ),
    Case(
        "rendered-output",
        {
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n",
            "old/.kaosgen-manifest.yaml": "# Generated by kaosgen. DO NOT EDIT.\n# Change the KAOS resources or kaosgen.yaml and run `kaosgen render`.\nproject: elsewhere\nfiles: []\n",
            "old/base/a.yaml": "# Generated by kaosgen. DO NOT EDIT.\n# Change the KAOS resources or kaosgen.yaml and run `kaosgen render`.\n⟦1⟧apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
            "old/base/b.yaml": "# Generated by kaosgen. DO NOT EDIT.\n# Change the KAOS resources or kaosgen.yaml and run `kaosgen render`.\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
        },
        [
            (
                "1",
                E,
                "rendered-output",
                "old/ holds kaosgen's rendered output (2 file(s)), which is not input: read as "
                "input, its objects would be deployed twice and its kustomizations as objects",
            )
        ],
        hints={"1": "exclude it: add `exclude: [old/]` to kaosgen.yaml"},
    ),
    Case(
        "excluded-files-are-not-read",
        {
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"
            "exclude: [ci/, '*.notes.yaml', '!keep.notes.yaml']\n",
            "ci/pipeline.yaml": "stages: [test]\n",
            "ci/deep/x.yaml": "{",
            "a.notes.yaml": "todo: 1\n",
            "sub/b.notes.yaml": "todo: 2\n",
            "keep.notes.yaml": "⟦1⟧todo: 3\n",
        },
        [
            (
                "1",
                E,
                "not-kubernetes",
                "file holds no Kubernetes object (no document has apiVersion and kind)",
            )
        ],
    ),
    Case(
        "yaml-key-type",
        {
            "case.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
            'data: {⟦1⟧true: a, ⟦2⟧null: b, ⟦3⟧0x10: c, "0x11": d}\n'
        },
        [
            ("1", E, "yaml-key-type", "mapping key 'true' is read as a boolean, not a string"),
            ("2", E, "yaml-key-type", "mapping key 'null' is read as null, not a string"),
            ("3", E, "yaml-key-type", "mapping key '0x10' is read as an integer, not a string"),
        ],
        hints={"1": 'Kubernetes keys are strings: quote it ("true":)'},
    ),
    Case(
        "too-many-errors",
        {
            "case.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n"
            + "".join(f"  ⟦k{i}⟧{i}: x\n" for i in range(101))
        },
        [
            (f"k{i}", E, "yaml-key-type", f"mapping key '{i}' is read as an integer, not a string")
            for i in range(100)
        ]
        + [
            (
                "k100",
                E,
                "too-many-errors",
                "more than 100 YAML problems in this file; the rest are not shown",
            )
        ],
    ),
    Case(
        "number-range",
        {
            "case.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
            "data: {a: ⟦1⟧9223372036854775808, b: ⟦2⟧-.inf, c: 9223372036854775807}\n"
        },
        [
            (
                "1",
                E,
                "number-range",
                "integer 9223372036854775808 is out of range for Kubernetes "
                "(64-bit integers: -9223372036854775808 to 9223372036854775807)",
            ),
            (
                "2",
                E,
                "number-range",
                "-.inf is not a finite number; Kubernetes (JSON) cannot carry it",
            ),
        ],
    ),
    Case(
        "annotation-value",
        {
            "case.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  annotations:\n"
            "    prometheus.io/scrape: ⟦1⟧true\n    prometheus.io/port: ⟦2⟧9090\n"
            '    ok: "1"\n    mode: ⟦3⟧0755\n'
            "spec: {ports: [{port: 80}]}\n"
        },
        [
            (
                "1",
                W,
                "annotation-value",
                "annotation 'prometheus.io/scrape' is read as a boolean, not a string; "
                "written as the string 'true', as kustomize writes it",
            ),
            (
                "2",
                W,
                "annotation-value",
                "annotation 'prometheus.io/port' is read as an integer, not a string; "
                "written as the string '9090', as kustomize writes it",
            ),
            (
                "3",
                W,
                "annotation-value",
                "annotation 'mode' is read as an integer, not a string; "
                "written as the string '0755', as kustomize writes it",
            ),
        ],
        hints={"2": 'annotation values are strings: quote it (prometheus.io/port: "9090")'},
    ),
    Case(
        "metadata-value",
        {
            "case.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
            "  labels: {b: ⟦1⟧true, n: ⟦2⟧12, ok: x}\n  annotations: {j: ⟦3⟧[1]}\n---\n"
            "apiVersion: v1\nkind: List\nitems:\n"
            "- {apiVersion: v1, kind: ConfigMap, metadata: {name: d, labels: {v: ⟦4⟧1.5}}}\n"
            # kustomize turns no template's annotations into strings
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n"
            "  template:\n    metadata: {labels: {app: w}, annotations: {s: ⟦5⟧true}}\n"
            "---\napiVersion: example.com/v1\nkind: Deployment\nmetadata: {name: cr}\n"
            "spec: {template: {metadata: {annotations: {s: true}}}}\n"
        },
        [
            (
                "1",
                E,
                "metadata-value",
                "label 'b' is a boolean, not a string: the API server rejects the object",
            ),
            (
                "2",
                E,
                "metadata-value",
                "label 'n' is an integer, not a string: the API server rejects the object",
            ),
            (
                "3",
                E,
                "metadata-value",
                "annotation 'j' is a list, not a string (kustomize would write it as an empty string)",
            ),
            (
                "4",
                E,
                "metadata-value",
                "label 'v' is a number, not a string: the API server rejects the object",
            ),
            (
                "5",
                E,
                "metadata-value",
                "annotation 's' is a boolean, not a string: the API server rejects the object",
            ),
        ],
        hints={"1": 'label values are strings: quote it (b: "true")'},
    ),
    Case(
        "kaos-in-list",
        {
            # how `kubectl get agents,modelapis -o yaml` exports them
            "case.yaml": "apiVersion: v1\nkind: List\nitems:\n"
            "- ⟦1⟧apiVersion: kaos.tools/v1alpha1\n  kind: Agent\n  metadata: {name: a}\n"
            "  spec: {modelAPI: ollama, model: 'smollm2:135m'}\n"
            "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c}\n"
            "- ⟦2⟧{apiVersion: kaos.tools/v1alpha1, kind: ModelAPI, metadata: {name: m}}\n"
        },
        [
            (
                "1",
                E,
                "kaos-in-list",
                "a kaos.tools/v1alpha1 Agent inside a List is not compiled "
                "(it would be deployed as a raw KAOS object)",
            ),
            (
                "2",
                E,
                "kaos-in-list",
                "a kaos.tools/v1alpha1 ModelAPI inside a List is not compiled "
                "(it would be deployed as a raw KAOS object)",
            ),
        ],
        hints={"1": "unwrap the List: write each item as its own document (separated by ---)"},
    ),
    Case(
        "kustomize-document",
        {
            "kustomization.yaml": "apiVersion: ⟦1⟧kustomize.config.k8s.io/v1beta1\n"
            "kind: Kustomization\nresources: [base.yaml]\n",
            "component.yaml": "apiVersion: ⟦2⟧kustomize.config.k8s.io/v1alpha1\n"
            "kind: Component\npatches: []\n",
        },
        [
            (
                "1",
                E,
                "kustomize-document",
                "a kustomize.config.k8s.io/v1beta1 Kustomization is kustomize's build settings, "
                "not a Kubernetes object",
            ),
            (
                "2",
                E,
                "kustomize-document",
                "a kustomize.config.k8s.io/v1alpha1 Component is kustomize's build settings, "
                "not a Kubernetes object",
            ),
        ],
        hints={
            "1": "kaosgen writes the kustomizations; give it the resources this one lists, and "
            "move it out of the inputs, or create kaosgen.yaml with "
            "`exclude: [kustomization.yaml]`"
        },
    ),
    Case(
        "yaml-depth",
        {"case.yaml": "x: " + "[" * 99 + "⟦1⟧[" + "]" * 100 + "\n"},
        [("1", E, "yaml-depth", "nesting deeper than 100 levels")],
    ),
    Case(
        "yaml-alias",
        {"case.yaml": "a: &a {b: [⟦1⟧*a]}\n"},
        [
            (
                "1",
                E,
                "yaml-alias",
                "alias *a refers to the node that contains it (an endless structure)",
            )
        ],
    ),
    Case(
        "output-dir",
        {"kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\noutput: ⟦1⟧..\n"},
        [
            (
                "1",
                E,
                "output-dir",
                "the output directory '..' is or contains the input directory '.': "
                "a render would read its own output back",
            )
        ],
    ),
    Case(
        "no-environments",
        {"kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n⟦1⟧environments: {}\n"},
        [
            (
                "1",
                W,
                "no-environments",
                "environments is empty: no overlay is rendered, only base/ (no namespace, "
                "nothing for kubectl apply -k, Flux or Argo CD to deliver)",
            )
        ],
    ),
    Case(
        "yaml-binary",
        {
            "case.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
            "data: {a: ⟦1⟧!!binary aGVsbG8}\n"
        },
        [("1", E, "yaml-binary", "!!binary value is not base64 (kubectl refuses the file)")],
    ),
    Case(
        "yaml-documents",
        {"case.yaml": "---\n" * 50_000 + "⟦1⟧---\n"},
        [("1", E, "yaml-documents", "more than 50,000 documents in one file")],
    ),
    Case(
        "merge-keys",
        {
            "case.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
            "x: &x {a: '1', b: '2'}\ny: &y {c: '3'}\n"
            "data: {<<: [*x, *y], b: '9'}\nz: {<<: ⟦1⟧five}\n"
        },
        [("1", E, "yaml-syntax", "a merge key (<<) takes a mapping or a list of mappings")],
    ),
    Case(
        "api-version",
        {
            "case.yaml": "apiVersion: ⟦1⟧kaos.tools/v1beta1\nkind: Agent\nmetadata: {name: a}\n"
            'spec: {modelAPI: ollama, model: "smollm2:135m"}\n'
        },
        [("1", E, "api-version", "unsupported apiVersion 'kaos.tools/v1beta1' for Agent")],
    ),
    Case(
        # Near misses of the KAOS group are errors, not pass-through documents, and the
        # rest of the document is still checked (a wrong reference shows in the same run).
        "api-version-near-miss",
        {
            "case.yaml": "apiVersion: ⟦1⟧kaos.tool/v1alpha1\nkind: Agent\nmetadata: {name: a}\n"
            'spec: {modelAPI: ollama, model: "smollm2:135m"}\n---\n'
            "apiVersion: ⟦2⟧KAOS.tools/v1alpha1\nkind: Agent\nmetadata: {name: b}\n"
            'spec: {modelAPI: ⟦4⟧olama, model: "smollm2:135m"}\n---\n'
            "apiVersion: ⟦3⟧kaostools/v1alpha1\nkind: MCPServer\nmetadata: {name: c}\n"
            'spec: {runtime: custom, container: {image: "x:1"}}\n---\n'
            "apiVersion: apps.kaos.example/v1\nkind: Agent\nmetadata: {name: not-ours}\n"
        },
        [
            ("1", E, "api-version", "apiVersion 'kaos.tool/v1alpha1' is not a KAOS API version"),
            ("2", E, "api-version", "apiVersion 'KAOS.tools/v1alpha1' is not a KAOS API version"),
            ("3", E, "api-version", "apiVersion 'kaostools/v1alpha1' is not a KAOS API version"),
            ("4", E, "ref-modelapi", "ModelAPI 'olama' not found in namespace 'default'"),
        ],
        hints={
            "1": "did you mean 'kaos.tools/v1alpha1'?",
            "2": "did you mean 'kaos.tools/v1alpha1'?",
            "3": "did you mean 'kaos.tools/v1alpha1'?",
        },
    ),
    Case(
        # kaosgen.yaml's own kind among the resources would reach kustomize as a resource.
        "project-document",
        {
            "case.yaml": "apiVersion: ⟦1⟧kaosgen.dev/v1alpha1\nkind: Project\noutput: deploy\n"
            "environments: {dev: {}}\n"
        },
        [
            (
                "1",
                E,
                "project-document",
                "a kaosgen.dev/v1alpha1 Project document is kaosgen's own settings, not a resource",
            )
        ],
        hints={"1": "project settings live in kaosgen.yaml; remove this document from the inputs"},
    ),
    Case(
        "unknown-kind",
        {"case.yaml": "apiVersion: kaos.tools/v1alpha1\nkind: ⟦1⟧Tool\nmetadata: {name: a}\n"},
        [("1", E, "unknown-kind", "unknown KAOS kind 'Tool'")],
        hints={"1": "kaosgen understands Agent, MCPServer, ModelAPI"},
    ),
    Case(
        "unknown-kind-near-miss",
        {"case.yaml": "apiVersion: kaos.tools/v1alpha1\nkind: ⟦1⟧Modelapi\nmetadata: {name: a}\n"},
        [("1", E, "unknown-kind", "unknown KAOS kind 'Modelapi'")],
        hints={"1": "did you mean 'ModelAPI'?"},
    ),
    Case(
        "hydrate",
        {
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"
            "gitops:\n  repository: {url: 'https://github.com/acme/agents.git'}\n  flux: {}\n",
            "case.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
            "  labels: ⟦1⟧[a, b]\n",
        },
        [
            (
                "1",
                E,
                "hydrate",
                "cannot compute the hydrated objects: ConfigMap 'c': metadata.labels is not a mapping",
            )
        ],
        hints={"1": "kubectl kustomize cannot build this either: fix the document"},
    ),
    Case(
        # Flux labels what it applies with the Kustomization's name: at most 63 characters.
        "gitops-name",
        {
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"
            "gitops:\n  repository: {url: 'https://github.com/acme/agents.git'}\n  flux: {}\n"
            "environments:\n  ⟦1⟧production-europe-west1-cluster-blue-canary-2026: {}\n",
            "case.yaml": agent("modelAPI: ollama\nmodel: smollm2:135m\n"),
        },
        [
            (
                "1",
                E,
                "gitops-name",
                "environment 'production-europe-west1-cluster-blue-canary-2026': the Flux "
                "Kustomization 'kaos-production-europe-west1-cluster-blue-canary-2026-dependencies' "
                "is 66 characters; Flux labels every object it applies with this name "
                "(kustomize.toolkit.fluxcd.io/name), and a label value has at most 63, so every "
                "apply would fail",
            )
        ],
        hints={
            "1": "shorten the environment name or gitops.name ('kaos') by at least 3 characters"
        },
    ),
    Case(
        "secret-in-output",
        {"case.yaml": "apiVersion: v1\nkind: ⟦1⟧Secret\nmetadata: {name: s}\nstringData: {k: v}\n"},
        [
            (
                "1",
                W,
                "secret-in-output",
                "this Secret's data will be written into the rendered output",
            )
        ],
    ),
    Case(
        # A SOPS-encrypted Secret is what the hint above asks for (Flux decrypts it): silent.
        "secret-in-output-sops",
        {
            "case.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
            "stringData: {k: 'ENC[AES256_GCM,data:dg==,iv:aXY=,tag:dGFn,type:str]'}\n"
            "sops:\n  age: [{recipient: age1abc, enc: x}]\n  mac: 'ENC[AES256_GCM,data:bQ==]'\n"
            "  encrypted_regex: ^(data|stringData)$\n  version: 3.9.0\n"
        },
        [],
    ),
    # --- schema -----------------------------------------------------------------------
    Case(
        "schema-unknown-field",
        {
            "case.yaml": agent("""\
                modelAPI: ollama
                model: smollm2:135m
                ⟦1⟧mcpServer: [tools]
                config:
                  ⟦2⟧instruction: be brief
                """)
        },
        [
            ("1", E, "schema-unknown-field", "unknown field 'mcpServer' in spec"),
            ("2", E, "schema-unknown-field", "unknown field 'instruction' in spec.config"),
        ],
        hints={"1": "did you mean 'mcpServers'?", "2": "did you mean 'instructions'?"},
    ),
    Case(
        "schema-type",
        {
            "case.yaml": agent("""\
                modelAPI: ollama
                model: smollm2:135m
                mcpServers: ⟦1⟧tools
                config:
                  reasoningLoopMaxSteps: ⟦2⟧many
                agentNetwork:
                  expose: ⟦3⟧maybe
                """)
        },
        [
            ("1", E, "schema-type", "spec.mcpServers: input should be a valid list (got 'tools')"),
            (
                "2",
                E,
                "schema-type",
                "spec.config.reasoningLoopMaxSteps: input should be a valid integer (got 'many')",
            ),
            (
                "3",
                E,
                "schema-type",
                "spec.agentNetwork.expose: input should be a valid boolean (got 'maybe')",
            ),
        ],
    ),
    Case(
        "schema-enum",
        {
            "case.yaml": doc("ModelAPI", "m", "mode: ⟦1⟧Local\n")
            + "---\n"
            + agent("""\
                modelAPI: ollama
                model: smollm2:135m
                config:
                  memory:
                    type: ⟦2⟧disk
                """)
        },
        [
            (
                "1",
                E,
                "schema-enum",
                "spec.mode: invalid value 'Local'; expected 'Proxy' or 'Hosted'",
            ),
            (
                "2",
                E,
                "schema-enum",
                "spec.config.memory.type: invalid value 'disk'; expected 'local', 'redis' or 'null'",
            ),
        ],
    ),
    Case(
        "schema-range",
        {
            "case.yaml": agent("""\
                modelAPI: ollama
                model: smollm2:135m
                config:
                  reasoningLoopMaxSteps: ⟦1⟧21
                  memory:
                    contextLimit: ⟦2⟧0
                    maxSessions: ⟦3⟧100001
                """)
        },
        [
            (
                "1",
                E,
                "schema-range",
                "spec.config.reasoningLoopMaxSteps: input should be less than or equal to 20 (got 21)",
            ),
            (
                "2",
                E,
                "schema-range",
                "spec.config.memory.contextLimit: input should be greater than or equal to 1 (got 0)",
            ),
            (
                "3",
                E,
                "schema-range",
                "spec.config.memory.maxSessions: input should be less than or equal to 100000 (got 100001)",
            ),
        ],
    ),
    Case(
        "schema-required",
        {
            "case.yaml": "apiVersion: kaos.tools/v1alpha1\nkind: Agent\nmetadata:\n  name: a\n⟦1⟧spec:\n  model: x\n"
            "---\n⟦2⟧apiVersion: kaos.tools/v1alpha1\nkind: ModelAPI\n⟦3⟧metadata:\n  namespace: x\n"
            "spec:\n  mode: Hosted\n  ⟦4⟧hostedConfig: {}\n"
        },
        [
            ("1", E, "schema-required", "missing required field 'modelAPI' in spec"),
            ("3", E, "schema-required", "missing required field 'name' in metadata"),
            ("4", E, "schema-required", "missing required field 'model' in spec.hostedConfig"),
        ],
    ),
    Case(
        "schema-required-spec",
        {
            "case.yaml": "⟦1⟧apiVersion: kaos.tools/v1alpha1\nkind: MCPServer\nmetadata:\n  name: m\n"
        },
        [("1", E, "schema-required", "missing required field 'spec' in the document")],
    ),
    Case(
        "schema-pattern",
        {
            "case.yaml": agent("""\
                modelAPI: ollama
                model: smollm2:135m
                gatewayRoute:
                  timeout: ⟦1⟧10 seconds
                """)
        },
        [
            (
                "1",
                E,
                "schema-pattern",
                "spec.gatewayRoute.timeout: string should match pattern '^([0-9]+(h|m|s|ms)){1,4}$' (got '10 seconds')",
            )
        ],
    ),
    Case(
        "schema-length",
        {"case.yaml": doc("ModelAPI", "p", "mode: Proxy\nproxyConfig:\n  models: ⟦1⟧[]\n")},
        [
            (
                "1",
                E,
                "schema-length",
                "spec.proxyConfig.models: list should have at least 1 item after validation, not 0 (got [])",
            )
        ],
    ),
    Case(
        "schema-enum-key",
        {
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\ngateway:\n  timeouts:\n"
            "    ⟦1⟧agents: 60s\n",
        },
        [
            (
                "1",
                E,
                "schema-enum",
                "gateway.timeouts.agents: invalid value 'agents'; expected 'agent', 'modelapi' or 'mcp'",
            )
        ],
    ),
    Case(
        "schema-podspec",
        {
            "case.yaml": agent("""\
                modelAPI: ollama
                model: smollm2:135m
                podSpec:
                  hostNetwork: ⟦1⟧"yes"
                  containers:
                  - ⟦2⟧image: busybox:1.36
                  - name: agent
                    securityContext:
                      capabilities: ⟦3⟧ALL
                  nodeSelector: {disk: ⟦4⟧1}
                """)
        },
        [
            (
                "1",
                E,
                "schema-type",
                "spec.podSpec.hostNetwork: input should be a valid boolean (got 'yes')",
            ),
            (
                "2",
                E,
                "schema-required",
                "missing required field 'name' in spec.podSpec.containers[0]",
            ),
            (
                "3",
                E,
                "schema-type",
                "spec.podSpec.containers[1].securityContext.capabilities: input should be a mapping (got 'ALL')",
            ),
            (
                "4",
                E,
                "schema-type",
                "spec.podSpec.nodeSelector.disk: input should be a valid string (got 1)",
            ),
        ],
    ),
    # --- names ------------------------------------------------------------------------
    Case(
        "name-dns1123",
        {
            "case.yaml": doc(
                "MCPServer", "⟦1⟧Bad_Name", "runtime: custom\ncontainer: {image: 'x:1'}\n"
            )
            + "---\n"
            + "apiVersion: kaos.tools/v1alpha1\nkind: MCPServer\nmetadata:\n  name: ok\n"
            "  namespace: ⟦2⟧Team.A\nspec:\n  runtime: custom\n  container: {image: 'x:1'}\n"
        },
        [
            ("1", E, "name-dns1123", "MCPServer name 'Bad_Name' is not a valid DNS-1123 label"),
            ("2", E, "name-dns1123", "namespace 'Team.A' is not a valid DNS-1123 label"),
        ],
    ),
    Case(
        "name-too-long",
        {
            "case.yaml": doc(
                "MCPServer", "⟦1⟧" + "m" * 54, "runtime: custom\ncontainer: {image: 'x:1'}\n"
            )
            # 53 characters: `mcpserver-` + name is exactly 63, which is fine.
            + "---\n"
            + doc("MCPServer", "n" * 53, "runtime: custom\ncontainer: {image: 'x:1'}\n")
            + "---\n"
            + doc("Agent", "⟦2⟧" + "a" * 58, "modelAPI: ollama\nmodel: smollm2:135m\n")
            + "---\n"
            + doc("Agent", "b" * 57, "modelAPI: ollama\nmodel: smollm2:135m\n")
            + "---\n"
            # ModelAPI: `modelapi-` + 54 = 63 (its ConfigMap name may be longer: 253).
            + doc("ModelAPI", "p" * 54, "mode: Proxy\nproxyConfig: {models: [x]}\n")
        },
        [
            (
                "1",
                E,
                "name-too-long",
                f"MCPServer name '{'m' * 54}' is too long: 'mcpserver-{'m' * 54}' has 64 characters, the limit is 63",
            ),
            (
                "2",
                E,
                "name-too-long",
                f"Agent name '{'a' * 58}' is too long: 'agent-{'a' * 58}' has 64 characters, the limit is 63",
            ),
        ],
        hints={
            "1": "shorten the name to at most 53 characters",
            "2": "shorten the name to at most 57 characters",
        },
    ),
    Case(
        "duplicate-resource",
        {
            "case.yaml": doc("Agent", "twin", "modelAPI: ollama\nmodel: smollm2:135m\n")
            + "---\n"
            + doc("Agent", "⟦1⟧twin", "modelAPI: proxy\nmodel: gpt-4o\n")
            + "---\n"
            # Same name, other kind or other namespace: fine.
            + doc("MCPServer", "twin", "runtime: custom\ncontainer: {image: 'x:1'}\n")
            + "---\n"
            + "apiVersion: kaos.tools/v1alpha1\nkind: ModelAPI\nmetadata:\n  name: ollama\n"
            "  namespace: other\nspec:\n  mode: Hosted\n  hostedConfig: {model: 'm:1b'}\n"
        },
        [
            (
                "1",
                E,
                "duplicate-resource",
                "duplicate Agent 'twin' in namespace 'default' (first defined at case.yaml:4)",
            )
        ],
    ),
    # --- references -------------------------------------------------------------------
    Case(
        "ref-modelapi",
        {
            "case.yaml": agent("""\
                modelAPI: ⟦1⟧ollamma
                model: smollm2:135m
                """)
        },
        [("1", E, "ref-modelapi", "ModelAPI 'ollamma' not found in namespace 'default'")],
        hints={"1": "did you mean 'ollama'?"},
    ),
    Case(
        "ref-modelapi-other-namespace",
        {
            "case.yaml": "apiVersion: kaos.tools/v1alpha1\nkind: Agent\nmetadata:\n  name: a\n"
            "  namespace: team-a\nspec:\n  modelAPI: ⟦1⟧ollama\n  model: smollm2:135m\n"
        },
        [("1", E, "ref-modelapi", "ModelAPI 'ollama' not found in namespace 'team-a'")],
    ),
    Case(
        "ref-mcpserver",
        {
            "case.yaml": agent("""\
                modelAPI: ollama
                model: smollm2:135m
                mcpServers:
                - tools
                - ⟦1⟧tool
                """)
        },
        [("1", E, "ref-mcpserver", "MCPServer 'tool' not found in namespace 'default'")],
        hints={"1": "did you mean 'tools'?"},
    ),
    Case(
        "duplicate-object-with-a-generated-one",
        {
            "case.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ⟦1⟧mcpserver-tools\n"
        },
        [
            (
                "1",
                E,
                "duplicate-object",
                "ServiceAccount 'mcpserver-tools': kaosgen generates a ServiceAccount with this "
                "name for the MCPServer 'tools'; kustomize refuses two objects with one id "
                "(apiVersion, kind, namespace, name), so no environment would build",
            )
        ],
        hints={"1": "rename this object"},
    ),
    Case(
        "duplicate-object-twice-in-the-inputs",
        {
            "a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n",
            "b.yaml": "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n"
            "  metadata:\n    name: ⟦1⟧settings\n    namespace: default\n",
        },
        [
            (
                "1",
                E,
                "duplicate-object",
                "ConfigMap 'settings': another document defines it too (a.yaml:4); kustomize "
                "refuses two objects with one id (apiVersion, kind, namespace, name), so no "
                "environment would build",
            )
        ],
    ),
    Case(
        "duplicate-object-with-a-component",
        {
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"
            "components: {redis: {}}\n",
            "case.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: ⟦1⟧kaos-redis\n",
        },
        [
            (
                "1",
                E,
                "duplicate-object",
                "Service 'kaos-redis' is defined twice in base/ (kustomize refuses two objects "
                "with one id: apiVersion, kind, namespace, name), so this environment would "
                "not build",
            )
        ],
        hints={"1": "rename this object"},
    ),
    Case(
        "namespace-makes-two-objects-one-without-gitops",
        {
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"
            "environments: {dev: {namespace: kaos-dev}}\n",
            "case.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"
            "⟦1⟧apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
        },
        [
            (
                "1",
                E,
                "hydrate",
                "cannot compute the hydrated objects: Namespace 'b': `namespace: kaos-dev` "
                "makes it the same object as another Namespace (kustomize refuses it too): "
                "rename one of them",
            )
        ],
    ),
    Case(
        "label-invalid-on-a-pass-through-document",
        {
            "case.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels:\n"
            "    ⟦1⟧bad key: x\n    ⟦2⟧tier: not ok!\n    app: agent\n"
        },
        [
            (
                "1",
                E,
                "label-invalid",
                "label 'bad key': the name must be at most 63 letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit",
            ),
            (
                "2",
                E,
                "label-invalid",
                "label 'tier': the value 'not ok!' is not a valid label value (at most 63 "
                "letters, digits, '-', '_' or '.')",
            ),
        ],
    ),
    Case(
        "gitops-path-outside",
        {
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\noutput: ⟦1⟧../x\n"
            "environments:\n  dev: {namespace: kaos-dev}\n"
            "gitops: {repository: {url: 'https://example.com/x.git'}, flux: {}}\n",
        },
        [
            (
                "1",
                E,
                "gitops-path-outside",
                "environment 'dev': the output's path in the repository ('../x') leaves the "
                "repository: Flux and Argo CD read paths from its root",
            )
        ],
    ),
    Case(
        "ref-agent",
        {
            "case.yaml": agent("""\
                modelAPI: ollama
                model: smollm2:135m
                agentNetwork:
                  access: [⟦1⟧ghost]
                """)
        },
        [("1", E, "ref-agent", "Agent 'ghost' not found in namespace 'default'")],
    ),
    Case(
        "ref-agent-not-exposed",
        {
            "case.yaml": doc(
                "Agent",
                "hidden",
                "modelAPI: ollama\nmodel: smollm2:135m\nagentNetwork: {expose: false}\n",
            )
            + "---\n"
            + doc(
                "Agent",
                "boss",
                "modelAPI: ollama\nmodel: smollm2:135m\nagentNetwork:\n  access: [⟦1⟧hidden]\n",
            )
        },
        [
            (
                "1",
                E,
                "ref-agent-not-exposed",
                "agent 'boss' delegates to 'hidden', which has agentNetwork.expose: false (no Service)",
            )
        ],
    ),
    # --- models -----------------------------------------------------------------------
    Case(
        "model-unsupported",
        {
            "case.yaml": "\n---\n".join(
                [
                    doc("Agent", "exact", "modelAPI: proxy\nmodel: gpt-4o\n"),
                    doc("Agent", "wildcard", "modelAPI: proxy\nmodel: openai/gpt-4.1-mini\n"),
                    doc("Agent", "near-miss", "modelAPI: proxy\nmodel: ⟦1⟧gpt-4\n"),
                    doc("Agent", "other-provider", "modelAPI: proxy\nmodel: ⟦2⟧openaix/gpt\n"),
                    doc("Agent", "bare-provider", "modelAPI: proxy\nmodel: ⟦3⟧openai\n"),
                    doc("Agent", "hosted-plain", "modelAPI: ollama\nmodel: smollm2:135m\n"),
                    doc(
                        "Agent", "hosted-prefixed", "modelAPI: ollama\nmodel: ollama/smollm2:135m\n"
                    ),
                    doc(
                        "Agent", "hosted-other", "modelAPI: ollama\nmodel: ⟦4⟧ollama/smollm2:360m\n"
                    ),
                    doc("Agent", "star", "modelAPI: any\nmodel: whatever/you-like\n"),
                    doc("ModelAPI", "any", "mode: Proxy\nproxyConfig: {models: ['*']}\n"),
                    doc(
                        "ModelAPI",
                        "hosted-prefixed",
                        "mode: Hosted\nhostedConfig: {model: 'ollama/qwen3:0.6b'}\n",
                    ),
                    doc(
                        "Agent",
                        "hosted-prefixed-api",
                        "modelAPI: hosted-prefixed\nmodel: qwen3:0.6b\n",
                    ),
                ]
            )
        },
        [
            (
                "1",
                E,
                "model-unsupported",
                "model 'gpt-4' is not supported by ModelAPI 'proxy' (supports: gpt-4o, openai/*)",
            ),
            (
                "2",
                E,
                "model-unsupported",
                "model 'openaix/gpt' is not supported by ModelAPI 'proxy' (supports: gpt-4o, openai/*)",
            ),
            (
                "3",
                E,
                "model-unsupported",
                "model 'openai' is not supported by ModelAPI 'proxy' (supports: gpt-4o, openai/*)",
            ),
            (
                "4",
                E,
                "model-unsupported",
                "model 'ollama/smollm2:360m' is not supported by ModelAPI 'ollama' (supports: smollm2:135m)",
            ),
        ],
        hints={
            "1": "did you mean 'gpt-4o'? Otherwise add 'gpt-4' to proxyConfig.models of ModelAPI 'proxy'",
            "2": "use a supported model, or add 'openaix/gpt' to proxyConfig.models of ModelAPI 'proxy'",
            # A Hosted ModelAPI has no proxyConfig: its one model is hostedConfig.model.
            "4": "a Hosted ModelAPI serves one model: use 'smollm2:135m', or change "
            "hostedConfig.model of ModelAPI 'ollama' to the model you want",
        },
    ),
    Case(
        "model-missing",
        {"case.yaml": agent("⟦1⟧modelAPI: proxy\n")},
        [
            (
                "1",
                E,
                "model-missing",
                "spec.model is required (the ModelAPI is not Hosted, so no default model exists)",
            )
        ],
    ),
    Case(
        "modelapi-config",
        {
            "case.yaml": doc("ModelAPI", "p", "mode: ⟦1⟧Proxy\n")
            + "---\n"
            + doc("ModelAPI", "h", "mode: ⟦2⟧Hosted\n")
        },
        [
            (
                "1",
                E,
                "modelapi-config",
                "mode Proxy needs spec.proxyConfig with at least one model",
            ),
            (
                "2",
                E,
                "modelapi-config",
                "mode Hosted needs spec.hostedConfig.model (the Ollama model to serve)",
            ),
        ],
    ),
    # --- delegation -------------------------------------------------------------------
    Case(
        "self-delegation",
        {
            "case.yaml": agent("""\
                modelAPI: ollama
                model: smollm2:135m
                agentNetwork:
                  access: [⟦1⟧a]
                """)
        },
        [("1", E, "self-delegation", "agent 'a' lists itself in agentNetwork.access")],
    ),
    Case(
        "delegation-cycle",
        {
            "case.yaml": doc(
                "Agent",
                "x",
                "modelAPI: ollama\nmodel: smollm2:135m\nagentNetwork:\n  access: [y]\n",
            )
            + "---\n"
            + doc(
                "Agent",
                "y",
                "modelAPI: ollama\nmodel: smollm2:135m\nagentNetwork:\n  access: [z]\n",
            )
            + "---\n"
            + doc(
                "Agent",
                "z",
                "modelAPI: ollama\nmodel: smollm2:135m\nagentNetwork:\n  access: [⟦1⟧x]\n",
            )
        },
        [
            (
                "1",
                W,
                "delegation-cycle",
                "delegation cycle (3 agents): x -> y -> z -> x; the runtime's delegation depth limit and model-call budget (MODEL_CALL_BUDGET) stop runaway loops",
            )
        ],
    ),
    # --- secrets ----------------------------------------------------------------------
    Case(
        "inline-api-key",
        {
            "case.yaml": doc(
                "ModelAPI",
                "keyed",
                "mode: Proxy\nproxyConfig:\n  models: [gpt-4o]\n  apiKey:\n    value: ⟦1⟧sk-123\n",
            )
        },
        [
            (
                "1",
                E,
                "inline-api-key",
                "inline apiKey.value would write a secret into the rendered output",
            )
        ],
        hints={
            "1": "use apiKey.valueFrom.secretKeyRef, or set security.allowInlineApiKeys: true in kaosgen.yaml"
        },
    ),
    Case(
        "inline-api-key-allowed",
        {
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\nsecurity:\n  allowInlineApiKeys: true\n",
            "case.yaml": doc(
                "ModelAPI",
                "keyed",
                "mode: Proxy\nproxyConfig:\n  models: [gpt-4o]\n  apiKey:\n    value: sk-123\n",
            ),
        },
        [],
    ),
    Case(
        "api-key",
        {
            "case.yaml": doc(
                "ModelAPI",
                "both",
                "mode: Proxy\nproxyConfig:\n  models: [m]\n  ⟦1⟧apiKey:\n    value: k\n"
                "    valueFrom: {secretKeyRef: {name: s, key: k}}\n",
            )
            + "---\n"
            + doc(
                "ModelAPI", "neither", "mode: Proxy\nproxyConfig:\n  models: [m]\n  ⟦2⟧apiKey: {}\n"
            )
        },
        [
            ("1", E, "api-key", "apiKey has both value and valueFrom; set one"),
            ("2", E, "api-key", "apiKey needs value or valueFrom"),
        ],
    ),
    # --- MCP servers ------------------------------------------------------------------
    Case(
        "mcpserver-runtime",
        {
            "case.yaml": doc("MCPServer", "weird", "runtime: ⟦1⟧weird\n")
            + "---\n"
            + doc("MCPServer", "custom", "runtime: ⟦2⟧custom\n")
            + "---\n"
            + doc(
                "MCPServer",
                "both",
                "runtime: python-string\nparams: 'def f(): pass'\n⟦3⟧type: python-runtime\n",
            )
            + "---\n"
            + "apiVersion: kaos.tools/v1alpha1\nkind: MCPServer\nmetadata:\n  name: neither\n⟦4⟧spec:\n  params: x\n"
            + "---\n"
            # Internal names of old-era forms are not spellings a user may write.
            + doc("MCPServer", "internal", "runtime: ⟦5⟧python-secret\nparams: x\n")
        },
        [
            ("1", E, "mcpserver-runtime", "unknown MCP runtime 'weird'"),
            ("2", E, "mcpserver-runtime", "runtime custom needs spec.container.image"),
            (
                "3",
                E,
                "mcpserver-runtime",
                "set either spec.runtime (current) or spec.type (deprecated), not both",
            ),
            (
                "4",
                E,
                "mcpserver-runtime",
                "missing spec.runtime (e.g. python-string, kubernetes, slack, custom)",
            ),
            ("5", E, "mcpserver-runtime", "unknown MCP runtime 'python-secret'"),
        ],
    ),
    Case(
        "mcpserver-source-block",
        {
            "case.yaml": doc(
                "MCPServer",
                "broken",
                "runtime: python-string\nparams: |\n  def ok(x: int) -> int:\n      return x\n\n"
                "  def bad(x):\n      return ⟦1⟧(x +\n",
            )
        },
        [
            (
                "1",
                E,
                "mcpserver-source",
                "tool source does not compile: '(' was never closed (line 5 of the source)",
            )
        ],
    ),
    Case(
        "mcpserver-source-legacy",
        {
            "case.yaml": doc(
                "MCPServer",
                "old",
                "⟦2⟧type: python-runtime\nconfig:\n  tools:\n    ⟦3⟧fromString: |\n"
                "      def f(x):\n          return x ⟦1⟧y\n",
            )
        },
        [
            (
                "1",
                E,
                "mcpserver-source",
                "tool source does not compile: invalid syntax (line 2 of the source)",
            ),
            (
                "2",
                W,
                "deprecated-field",
                "spec.type: python-runtime is deprecated; kaosgen reads it as spec.runtime",
            ),
            (
                "3",
                W,
                "deprecated-field",
                "config.tools.fromString is deprecated; kaosgen reads it as runtime: python-string with params",
            ),
        ],
    ),
    Case(
        "mcpserver-source-inline",
        {
            "case.yaml": doc(
                "MCPServer", "one-line", "runtime: python-string\nparams: 'def f(⟦1⟧: pass'\n"
            )
        },
        [
            (
                "1",
                E,
                "mcpserver-source",
                "tool source does not compile: invalid syntax (line 1 of the source)",
            )
        ],
    ),
    Case(
        "mcpserver-source-no-tools",
        {"case.yaml": doc("MCPServer", "empty", "runtime: python-string\nparams: ⟦1⟧'X = 1'\n")},
        [
            (
                "1",
                E,
                "mcpserver-source",
                "tool source defines no public function; each top-level function becomes a tool",
            )
        ],
    ),
    Case(
        "mcpserver-source-empty",
        {"case.yaml": doc("MCPServer", "blank", "runtime: python-string\nparams: ⟦1⟧'  '\n")},
        [
            (
                "1",
                E,
                "mcpserver-source",
                "python-string needs the tool source (Python functions) in params",
            )
        ],
    ),
    Case(
        "mcpserver-source-nul",
        {
            "case.yaml": doc(
                "MCPServer", "nul", 'runtime: python-string\nparams: ⟦1⟧"def f():\\n  return \\0"\n'
            )
        },
        [
            (
                "1",
                E,
                "mcpserver-source",
                "tool source does not compile: source code string cannot contain null bytes (line 1 of the source)",
            )
        ],
    ),
    Case(
        "mcpserver-runtime-with-config",
        {
            "case.yaml": doc(
                "MCPServer",
                "mixed",
                "runtime: python-string\nparams: 'def f(): pass'\n⟦1⟧config:\n  env: [{name: A, value: b}]\n",
            )
        },
        [
            (
                "1",
                E,
                "mcpserver-runtime",
                "spec.config belongs to the deprecated spec.type form; with spec.runtime use params and container.env",
            )
        ],
    ),
    # --- deprecated forms: warnings, never errors ---------------------------------------
    Case(
        "deprecated-agent",
        {
            "case.yaml": agent("""\
                ⟦2⟧modelAPI: ollama
                config:
                  ⟦1⟧env:
                  - name: LOG_LEVEL
                    value: DEBUG
                """)
        },
        [
            (
                "1",
                W,
                "deprecated-field",
                "spec.config.env is deprecated; kaosgen reads it as spec.container.env",
            ),
            (
                "2",
                W,
                "deprecated-field",
                "Agent without spec.model is deprecated; using 'smollm2:135m' from ModelAPI 'ollama'",
            ),
        ],
    ),
    Case(
        "deprecated-agent-model-from-env",
        {
            "case.yaml": agent("""\
                ⟦1⟧modelAPI: proxy
                container:
                  env:
                  - name: MODEL_NAME
                    value: gpt-4o
                """)
        },
        [
            (
                "1",
                W,
                "deprecated-field",
                "Agent without spec.model is deprecated; using 'gpt-4o' from its MODEL_NAME env",
            )
        ],
    ),
    Case(
        "deprecated-modelapi",
        {
            "case.yaml": doc(
                "ModelAPI",
                "old-proxy",
                "mode: Proxy\nproxyConfig:\n  ⟦1⟧model: gpt-4o\n  ⟦2⟧env:\n  - {name: A, value: b}\n",
            )
            + "---\n"
            + doc(
                "ModelAPI",
                "old-hosted",
                "mode: Hosted\nhostedConfig:\n  model: m:1b\n  ⟦3⟧env:\n  - {name: A, value: b}\n",
            )
        },
        [
            (
                "1",
                W,
                "deprecated-field",
                "proxyConfig.model is deprecated; kaosgen reads it as proxyConfig.models",
            ),
            (
                "2",
                W,
                "deprecated-field",
                "proxyConfig.env is deprecated; kaosgen reads it as spec.container.env",
            ),
            (
                "3",
                W,
                "deprecated-field",
                "hostedConfig.env is deprecated; kaosgen reads it as spec.container.env",
            ),
        ],
    ),
    Case(
        "deprecated-mcpserver",
        {
            "case.yaml": "\n---\n".join(
                [
                    doc(
                        "MCPServer",
                        "from-string",
                        "⟦1⟧type: python-runtime\nconfig:\n  tools:\n    ⟦2⟧fromString: |\n"
                        "      def f(x: str) -> str:\n          return x\n  ⟦3⟧env:\n  - {name: A, value: b}\n",
                    ),
                    doc(
                        "MCPServer",
                        "from-package",
                        "⟦4⟧type: python-runtime\nconfig:\n  tools:\n    ⟦5⟧fromPackage: mcp-server-fetch\n",
                    ),
                    doc(
                        "MCPServer",
                        "from-secret",
                        "⟦6⟧type: python-runtime\nconfig:\n  tools:\n    ⟦7⟧fromSecretKeyRef: {name: s, key: k}\n",
                    ),
                    doc(
                        "MCPServer",
                        "oldest",
                        "⟦8⟧type: python-runtime\nconfig:\n  ⟦9⟧mcp: mcp-server-time\n",
                    ),
                ]
            )
        },
        [
            (
                "1",
                W,
                "deprecated-field",
                "spec.type: python-runtime is deprecated; kaosgen reads it as spec.runtime",
            ),
            (
                "2",
                W,
                "deprecated-field",
                "config.tools.fromString is deprecated; kaosgen reads it as runtime: python-string with params",
            ),
            (
                "3",
                W,
                "deprecated-field",
                "config.env is deprecated; kaosgen reads it as spec.container.env",
            ),
            (
                "4",
                W,
                "deprecated-field",
                "spec.type: python-runtime is deprecated; kaosgen reads it as spec.runtime",
            ),
            (
                "5",
                W,
                "deprecated-field",
                "config.tools.fromPackage is deprecated; kaosgen reads it as runtime: python-package with params",
            ),
            (
                "6",
                W,
                "deprecated-field",
                "spec.type: python-runtime is deprecated; kaosgen reads it as spec.runtime",
            ),
            (
                "7",
                W,
                "deprecated-field",
                "config.tools.fromSecretKeyRef is deprecated; kaosgen reads it as the tool source from a Secret",
            ),
            (
                "8",
                W,
                "deprecated-field",
                "spec.type: python-runtime is deprecated; kaosgen reads it as spec.runtime",
            ),
            (
                "9",
                W,
                "deprecated-field",
                "config.mcp is deprecated; kaosgen reads it as runtime: python-package with params",
            ),
        ],
    ),
    # --- environment, memory, security --------------------------------------------------
    Case(
        "env-override",
        {
            "case.yaml": agent("""\
                modelAPI: ollama
                model: smollm2:135m
                container:
                  env:
                  - name: ⟦1⟧MODEL_API_URL
                    value: http://elsewhere
                """)
        },
        [
            (
                "1",
                W,
                "env-override",
                "MODEL_API_URL is set by kaosgen from the resource graph; the value in container.env is ignored",
            )
        ],
    ),
    Case(
        "env-value",
        {
            "case.yaml": agent("""\
                modelAPI: ollama
                model: smollm2:135m
                container:
                  env:
                  - name: ⟦1⟧MODEL_CALL_BUDGET
                    value: "0"
                """)
        },
        [
            (
                "1",
                E,
                "env-value",
                "MODEL_CALL_BUDGET must be an integer from 1 to 10000, got '0'",
            )
        ],
    ),
    Case(
        "memory-redis-url",
        {
            "case.yaml": agent("""\
                modelAPI: ollama
                model: smollm2:135m
                config:
                  memory:
                    type: ⟦1⟧redis
                """)
        },
        [
            (
                "1",
                E,
                "memory-redis-url",
                "memory type redis needs MEMORY_REDIS_URL in container.env, or components.redis: true in kaosgen.yaml",
            )
        ],
    ),
    Case(
        "memory-replicas",
        {
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\nenvironments:\n  prod:\n    replicas: 2\n",
            "case.yaml": doc(
                "Agent",
                "⟦1⟧local",
                "modelAPI: ollama\nmodel: smollm2:135m\nconfig: {memory: {type: local}}\n",
            ),
        },
        [
            (
                "1",
                W,
                "memory-replicas",
                "agent 'local' keeps local memory but has 2 replicas in environment 'prod': sessions are not shared between pods",
            )
        ],
        hints={
            "1": "set spec.config.memory.type: redis with components.redis: true in kaosgen.yaml "
            "(or your own MEMORY_REDIS_URL), or run one replica "
            "(environments.prod.workloads.agent/local.replicas: 1)"
        },
    ),
    Case(
        # components.redis is already on: the hint does not tell the user to turn it on.
        "memory-replicas-with-redis",
        {
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"
            "components: {redis: true}\nenvironments:\n  prod:\n    replicas: 3\n",
            "case.yaml": doc("Agent", "⟦1⟧local", "modelAPI: ollama\nmodel: smollm2:135m\n"),
        },
        [
            (
                "1",
                W,
                "memory-replicas",
                "agent 'local' keeps local memory but has 3 replicas in environment 'prod': sessions are not shared between pods",
            )
        ],
        hints={
            "1": "set spec.config.memory.type: redis (components.redis is already on in "
            "kaosgen.yaml), or run one replica (environments.prod.workloads.agent/local.replicas: 1)"
        },
    ),
    Case(
        "resources-quantity",
        {
            "case.yaml": agent("""\
                modelAPI: ollama
                model: smollm2:135m
                container:
                  resources:
                    requests: {memory: ⟦1⟧1GB}
                    limits: {cpu: ⟦2⟧two}
                """)
        },
        [
            ("1", E, "resources-quantity", "requests.memory: '1GB' is not a Kubernetes quantity"),
            ("2", E, "resources-quantity", "limits.cpu: 'two' is not a Kubernetes quantity"),
        ],
    ),
    Case(
        "resources-default-limits",
        {
            "case.yaml": agent("""\
                modelAPI: ollama
                model: smollm2:135m
                container:
                  ⟦1⟧resources:
                    requests: {memory: 2Gi}
                """)
        },
        [
            (
                "1",
                N,
                "resources-default-limits",
                "container.resources sets requests but no limits; kaosgen adds its default "
                "limits: cpu: 1, ephemeral-storage: 1Gi, memory: 2Gi (raised to the request)",
            )
        ],
        hints={"1": "set container.resources.limits to choose them"},
    ),
    Case(
        # A limit below the request in the same block: the API server refuses the pod (a
        # limit left to kaosgen is raised instead, with a resources-default-limits note).
        "resources-limits",
        {
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"
            "resources:\n  mcpServer: {requests: {cpu: 1500m}, limits: {cpu: ⟦2⟧'1'}}\n"
            "environments:\n  dev:\n    workloads:\n      agent/a:\n"
            "        resources: {requests: {memory: 4Gi}, limits: {memory: ⟦3⟧1000Mi}}\n",
            "case.yaml": agent("""\
                modelAPI: ollama
                model: smollm2:135m
                container:
                  resources:
                    requests: {memory: 2Gi}
                    limits: {memory: ⟦1⟧1Gi}
                """),
        },
        [
            (
                "1",
                E,
                "resources-limits",
                "container.resources sets limits.memory: 1Gi below requests.memory: 2Gi; "
                "the API server refuses such a pod",
            ),
            (
                "2",
                E,
                "resources-limits",
                "resources.mcpServer sets limits.cpu: 1 below requests.cpu: 1500m; "
                "the API server refuses such a pod",
            ),
            (
                "3",
                E,
                "resources-limits",
                "environment 'dev': workloads.agent/a.resources sets limits.memory: 1000Mi "
                "below requests.memory: 4Gi; the API server refuses such a pod",
            ),
        ],
        hints={"1": "raise limits.memory to at least the request, or lower the request"},
    ),
    Case(
        # kaosgen.yaml turns warning rules off: memory-replicas is silent here; a rule id
        # that is not a warning or note rule is an error at its entry.
        "diagnostics-ignore",
        {
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"
            "environments:\n  prod: {replicas: 2}\n"
            "diagnostics:\n  ignore: [memory-replicas, ⟦1⟧memory-replica, ⟦2⟧ref-agent]\n",
            "case.yaml": doc("Agent", "local", "modelAPI: ollama\nmodel: smollm2:135m\n"),
        },
        [
            (
                "1",
                E,
                "diagnostics-ignore",
                "'memory-replica' is not a warning or note rule (errors cannot be turned off)",
            ),
            (
                "2",
                E,
                "diagnostics-ignore",
                "'ref-agent' is not a warning or note rule (errors cannot be turned off)",
            ),
        ],
        hints={"1": "did you mean 'memory-replicas'?"},
    ),
    Case(
        "pod-security",
        {
            "case.yaml": agent("""\
                modelAPI: ollama
                model: smollm2:135m
                ⟦1⟧podSpec:
                  hostNetwork: true
                """)
        },
        [
            (
                "1",
                W,
                "pod-security",
                "Agent 'a' does not pass the restricted Pod Security Standard: host namespaces are not allowed",
            )
        ],
    ),
    Case(
        "pod-spec-patch",
        {
            "case.yaml": agent("""\
                modelAPI: ollama
                model: smollm2:135m
                podSpec:
                  ⟦1⟧containers: null
                """)
            + "---\n"
            + doc(
                "MCPServer",
                "files",
                "runtime: custom\ncontainer: {image: 'x:1'}\npodSpec:\n  ⟦2⟧volumes: null\n",
            )
            + "---\n"
            + doc(
                "MCPServer",
                "more",
                "runtime: custom\ncontainer: {image: 'x:1'}\n⟦3⟧podSpec:\n"
                "  $patch: replace\n  hostname: x\n",
            )
        },
        [
            (
                "1",
                E,
                "pod-spec-patch",
                "Agent 'a': the podSpec patch breaks the pod: it removes the container 'agent' that runs the workload",
            ),
            (
                "2",
                E,
                "pod-spec-patch",
                "MCPServer 'files': the podSpec patch breaks the pod: container 'mcp-server' mounts the volume 'tmp', which it removes",
            ),
            (
                "3",
                E,
                "pod-spec-patch",
                "MCPServer 'more': the podSpec patch breaks the pod: it removes the container 'mcp-server' that runs the workload",
            ),
        ],
        hints={"1": "list only what to add or change: containers and volumes merge by name"},
    ),
    Case(
        "telemetry-unsupported",
        {
            "case.yaml": doc(
                "ModelAPI",
                "traced",
                "mode: Hosted\nhostedConfig: {model: 'm:1b'}\n⟦1⟧telemetry: {enabled: true}\n",
            )
        },
        [
            (
                "1",
                W,
                "telemetry-unsupported",
                "Ollama (mode Hosted) has no OpenTelemetry export; spec.telemetry is ignored",
            )
        ],
    ),
    Case(
        "labels",
        {
            "case.yaml": "apiVersion: kaos.tools/v1alpha1\nkind: MCPServer\nmetadata:\n  name: t\n"
            '  labels:\n    ⟦1⟧app: mine\n    ⟦2⟧kaosgen.dev/exposed: "true"\n    mcpserver: t\n'
            "    ⟦3⟧bad key: x\n    ⟦4⟧team: two words\n  annotations:\n    ⟦5⟧Example.com/x: y\n"
            "spec:\n  runtime: custom\n  container: {image: 'x:1'}\n",
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\nlabels:\n  ⟦6⟧agent: x\n"
            'environments:\n  prod:\n    labels:\n      ⟦7⟧tier: "a/b"\n',
        },
        [
            (
                "1",
                W,
                "label-reserved",
                "label 'app' is kaosgen's (selectors and network policies use it); your value 'mine' is ignored",
            ),
            (
                "2",
                W,
                "label-reserved",
                "label 'kaosgen.dev/exposed' is kaosgen's (selectors and network policies use it); your value 'true' is ignored",
            ),
            (
                "3",
                E,
                "label-invalid",
                "label 'bad key': the name must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
            ),
            (
                "4",
                E,
                "label-invalid",
                "label 'team': the value 'two words' is not a valid label value (at most 63 letters, digits, '-', '_' or '.')",
            ),
            (
                "5",
                E,
                "label-invalid",
                "annotation 'Example.com/x': the prefix 'Example.com' is not a DNS subdomain",
            ),
            (
                "6",
                W,
                "label-reserved",
                "label 'agent' is kaosgen's (selectors and network policies use it); your value 'x' is ignored",
            ),
            (
                "7",
                E,
                "label-invalid",
                "label 'tier': the value 'a/b' is not a valid label value (at most 63 letters, digits, '-', '_' or '.')",
            ),
        ],
    ),
    # --- kaosgen.yaml -----------------------------------------------------------------
    Case(
        "project-schema",
        {
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n⟦1⟧outptu: deploy\n"
            "environments:\n  ⟦2⟧Dev: {}\n  prod:\n    replicas: ⟦3⟧-1\n",
            "case.yaml": "",
        },
        [
            ("1", E, "schema-unknown-field", "unknown field 'outptu' in the document"),
            (
                "2",
                E,
                "schema-pattern",
                "environments.Dev: string should match pattern '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' (got 'Dev')",
            ),
            (
                "3",
                E,
                "schema-range",
                "environments.prod.replicas: input should be greater than or equal to 0 (got -1)",
            ),
        ],
        hints={"1": "did you mean 'output'?"},
    ),
    Case(
        "project-rules",
        {
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\ngateway:\n  timeouts:\n"
            "    agent: ⟦1⟧2 minutes\nenvironments:\n  prod:\n    workloads:\n      ⟦2⟧agent/nope: {replicas: 2}\n",
        },
        [
            (
                "1",
                E,
                "gateway-timeout",
                "gateway timeout '2 minutes' is not a Gateway API duration",
            ),
            (
                "2",
                E,
                "ref-workload",
                "environment 'prod' overrides 'agent/nope', which is not a rendered workload",
            ),
        ],
    ),
    Case(
        "project-namespace-collapse",
        {
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\nenvironments:\n  prod:\n"
            "    namespace: ⟦1⟧prod\n",
            "case.yaml": "apiVersion: kaos.tools/v1alpha1\nkind: MCPServer\nmetadata:\n  name: t2\n"
            "  namespace: team-b\nspec:\n  runtime: custom\n  container: {image: 'x:1'}\n",
        },
        [
            (
                "1",
                E,
                "namespace-collapse",
                "environment 'prod' moves everything to namespace 'prod', but the input uses several namespaces (default, team-b)",
            )
        ],
    ),
    Case(
        "mcp-stateful-replicas",
        {
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\nenvironments:\n"
            "  dev: {}\n  prod: {replicas: 2}\n",
            "case.yaml": doc(
                "MCPServer",
                "stateful",
                """\
                runtime: python-string
                params: "def f(): pass"
                container:
                  env:
                    - name: ⟦1⟧FASTMCP_STATELESS_HTTP
                      value: "false"
                """,
            ),
        },
        [
            (
                "1",
                W,
                "mcp-stateful-replicas",
                "MCPServer 'stateful' is stateful (FASTMCP_STATELESS_HTTP=false) but runs more "
                "than one replica in environment 'prod': a Service balances connections, not "
                "MCP sessions, so a client's next request may reach a pod without its session",
            )
        ],
    ),
    Case(
        "project-file",
        {"kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n---\n⟦1⟧output: x\n"},
        [("1", E, "project-file", "kaosgen.yaml must hold exactly one document")],
    ),
    Case(
        "project-yaml-syntax",
        {"kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\noutput: [\n⟦1⟧"},
        [
            (
                "1",
                E,
                "yaml-syntax",
                "YAML syntax error: did not find expected node content (while parsing a flow node)",
            )
        ],
    ),
]


def _as_tuple(d: dict) -> tuple:
    return (d["file"], d["line"], d["column"], d["severity"], d["rule"], d["message"])


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule(case: Case, tmp_path: Path) -> None:
    where = write_case(case, tmp_path)
    code, diagnostics = validate_json(".", cwd=tmp_path)
    expected = sorted((*where[m], sev, rule, msg) for m, sev, rule, msg in case.expected)
    assert sorted(_as_tuple(d) for d in diagnostics) == expected
    has_errors = any(sev == E for _, sev, _, _ in case.expected)
    assert code == (1 if has_errors else 0)
    by_position = {(d["file"], d["line"], d["column"], d["rule"]): d for d in diagnostics}
    for marker, hint in case.hints.items():
        (rule,) = [r for m, _, r, _ in case.expected if m == marker]
        assert by_position[(*where[marker], rule)]["hint"] == hint


RULE_IDS_WITH_A_CASE = {rule for case in CASES for _, _, rule, _ in case.expected}
#: The modules of the validate/render pipeline (other commands test their own rules).
COMPILER_MODULES = (
    "source.py",
    "project.py",
    "pipeline.py",
    "schema_check.py",
    "resolve.py",
    "rules.py",
    "inputs.py",
    "filters.py",
)
#: Rules that need a broken file system rather than broken input (tested with hostile
#: files in test_hostile_input.py, symlinked directories in test_input_symlinks.py), or
#: `validate FILE` (tests/cli/test_inputs.py).
UNTESTABLE_HERE = {"io", "other-files", "symlink"}


def compiler_rule_ids() -> set[str]:
    """Every rule id the compiler can report, read from its source."""
    import kaosgen
    from kaosgen.schema_check import _RULES

    root = Path(kaosgen.__file__).parent
    source = "\n".join((root / name).read_text(encoding="utf-8") for name in COMPILER_MODULES)
    ids = set(
        re.findall(
            r"""\.(?:error|warning|note)\(\s*["']([a-z][a-z0-9]*(?:-[a-z0-9]+)*)["']""", source
        )
    )
    ids |= set(_RULES.values()) | {"schema-type"}
    if 'f"ref-{kind.lower()}"' in source:
        ids |= {"ref-modelapi", "ref-mcpserver", "ref-agent"}
    if "_deprecated(" in source:
        ids.add("deprecated-field")
    return ids


def test_every_warning_and_note_rule_can_be_turned_off() -> None:
    """kaosgen.yaml's diagnostics.ignore accepts exactly the compiler's warning and note
    rules: a new warning rule not in SILENCEABLE_RULES fails here."""
    import kaosgen
    from kaosgen.diagnostics import SILENCEABLE_RULES

    source = "\n".join(
        p.read_text(encoding="utf-8") for p in Path(kaosgen.__file__).parent.rglob("*.py")
    )
    found = set(re.findall(r"""\.(?:warning|note)\(\s*["']([a-z][a-z0-9-]*)["']""", source))
    if "_deprecated(" in source:
        found.add("deprecated-field")
    # Not a finding but a count of the errors `validate FILE` does not show: always said.
    found.discard("other-files")
    assert found == SILENCEABLE_RULES


def test_every_rule_id_in_the_compiler_has_a_case() -> None:
    """A new rule id in kaosgen/ without a case here fails this test."""
    ids = compiler_rule_ids()
    assert {"yaml-syntax", "ref-agent", "inline-api-key", "delegation-cycle"} <= ids
    untested = sorted(ids - RULE_IDS_WITH_A_CASE - UNTESTABLE_HERE)
    assert not untested, f"rule ids without a diagnostics test: {untested}"


# --- the three output formats -------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_text_format_shows_the_source_line_with_a_caret(case: Case, tmp_path: Path) -> None:
    where = write_case(case, tmp_path)
    result = run_kaosgen("validate", ".", cwd=tmp_path)
    assert_no_traceback(result)
    lines = result.stderr.splitlines()
    for marker, severity, rule, message in case.expected:
        file, line, col = where[marker]
        header = f"{file}:{line}:{col}: {severity}: {message} [{rule}]"
        assert header in lines, f"{header!r} not in:\n{result.stderr}"
        try:
            text = (tmp_path / file).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # an undecodable file has no line to show
        source_lines = text.splitlines()
        if line > len(source_lines):
            continue
        i = lines.index(header)
        # Control characters are shown as U+FFFD (one for one).
        source = re.sub(
            "[\x00-\x1f\x7f-\x9f\u2028\u2029]", "\ufffd", source_lines[line - 1].expandtabs(1)
        )
        if len(source) <= 120:
            assert lines[i + 1] == f"  {line:>4} | {source}"
            assert lines[i + 2] == "       | " + " " * (col - 1) + "^"
        else:  # a long line is cut to a window around the column, the caret kept on it
            shown = lines[i + 1].removeprefix(f"  {line:>4} | ")
            caret = lines[i + 2].index("^") - len("       | ")
            assert len(shown) <= 126 and shown.strip(".") in source
            assert shown[caret] == source[col - 1]
    if case.expected:
        errors = sum(1 for e in case.expected if e[1] == E)
        notes = sum(1 for e in case.expected if e[1] == N)
        summary = f"{errors} error(s), {len(case.expected) - errors - notes} warning(s)"
        assert lines[-1] == summary + (f", {notes} note(s)" if notes else "")
    assert result.exit_code == (1 if any(e[1] == E for e in case.expected) else 0)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_github_format_annotates_file_line_and_column(case: Case, tmp_path: Path) -> None:
    where = write_case(case, tmp_path)
    result = run_kaosgen("validate", "--format", "github", ".", cwd=tmp_path)
    assert_no_traceback(result)
    lines = result.stdout.splitlines()
    assert len(lines) == len(case.expected)
    for marker, severity, rule, message in case.expected:
        file, line, col = where[marker]
        command = "notice" if severity == N else severity
        prefix = f"::{command} file={file},line={line},col={col},title=kaosgen {rule}::{message}"
        assert any(out.startswith(prefix) for out in lines), f"{prefix!r} not in:\n{result.stdout}"
    assert result.exit_code == (1 if any(e[1] == E for e in case.expected) else 0)


def test_github_format_escapes_newlines_and_percent(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        doc("MCPServer", "m", "runtime: ⟦1⟧'50%\\nweird'\n").replace("⟦1⟧", ""), encoding="utf-8"
    )
    result = run_kaosgen("validate", "--format", "github", ".", cwd=tmp_path)
    (line,) = result.stdout.splitlines()
    assert line.startswith("::error file=a.yaml,line=6,col=12,title=kaosgen mcpserver-runtime::")
    assert "unknown MCP runtime '50%25\\\\nweird'" in line


# --- one run reports everything; invalid input writes nothing -----------------------------


def test_all_errors_of_a_file_are_reported_in_one_run(tmp_path: Path) -> None:
    case = Case(
        "many",
        {
            "case.yaml": "\n---\n".join(
                [
                    doc("Agent", "one", "modelAPI: ollama\nmodel: smollm2:135m\n⟦1⟧typo: 1\n"),
                    doc("Agent", "two", "modelAPI: ⟦2⟧nope\nmodel: x\n"),
                    doc(
                        "Agent",
                        "three",
                        "modelAPI: proxy\nmodel: ⟦3⟧claude\nmcpServers: [⟦4⟧missing]\n",
                    ),
                    doc(
                        "ModelAPI",
                        "keyed",
                        "mode: Proxy\nproxyConfig:\n  models: [m]\n  apiKey: {value: ⟦5⟧k}\n",
                    ),
                    doc("MCPServer", "⟦6⟧Bad", "runtime: ⟦7⟧python-strin\n"),
                    doc(
                        "Agent",
                        "four",
                        "modelAPI: ollama\nmodel: smollm2:135m\nagentNetwork: {access: [⟦8⟧four]}\n",
                    ),
                ]
            ),
            "other.yaml": doc(
                "Agent",
                "five",
                "modelAPI: ollama\nmodel: smollm2:135m\nconfig:\n  reasoningLoopMaxSteps: ⟦9⟧0\n",
            ),
        },
        [],
    )
    where = write_case(case, tmp_path)
    code, diagnostics = validate_json(".", cwd=tmp_path)
    assert code == 1
    found = {(d["file"], d["line"], d["column"], d["rule"]) for d in diagnostics}
    expected_rules = {
        "1": "schema-unknown-field",
        "2": "ref-modelapi",
        "3": "model-unsupported",
        "4": "ref-mcpserver",
        "5": "inline-api-key",
        "6": "name-dns1123",
        "7": "mcpserver-runtime",
        "8": "self-delegation",
        "9": "schema-range",
    }
    for marker, rule in expected_rules.items():
        assert (*where[marker], rule) in found, (marker, rule, diagnostics)
    assert len(diagnostics) == len(expected_rules)


def test_a_document_with_schema_errors_still_has_its_references_checked(tmp_path: Path) -> None:
    """A typo and a missing ModelAPI in one document: both in the first run. What only
    follows from the dropped invalid fields (a default standing in) is not reported."""
    case = Case(
        "one-round",
        {
            "kaosgen.yaml": "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"
            "environments:\n  prod: {replicas: 2}\n",
            "case.yaml": doc(
                "Agent",
                "a",
                "modelAPI: ⟦1⟧olama\nmodel: smollm2:135m\n⟦2⟧mcpServer: [tools]\n"
                "mcpServers: [tools, ⟦3⟧toolz]\n"
                "config:\n  memory:\n    type: ⟦4⟧Redis\n",
            )
            + "---\n"
            + doc("ModelAPI", "p", "mode: Proxy\nproxyConfig:\n  models: ⟦5⟧[]\n"),
        },
        [],
    )
    where = write_case(case, tmp_path)
    code, diagnostics = validate_json(".", cwd=tmp_path)
    assert code == 1
    found = sorted((d["file"], d["line"], d["column"], d["rule"]) for d in diagnostics)
    assert found == sorted(
        [
            (*where["1"], "ref-modelapi"),
            (*where["2"], "schema-unknown-field"),
            (*where["3"], "ref-mcpserver"),
            (*where["4"], "schema-enum"),
            (*where["5"], "schema-length"),
        ]
    ), diagnostics
    # Not "keeps local memory with 2 replicas" (memory type Redis was dropped, so the
    # default local stood in), not "proxyConfig needs models" (said by schema-length).


def test_invalid_input_never_writes(tmp_path: Path) -> None:
    from kaosgen.writer import HEADER

    project = tmp_path / "project"
    project.mkdir()
    (project / "a.yaml").write_text(
        BASE + "---\n" + doc("Agent", "a", "modelAPI: nope\nmodel: x\n")
    )
    out = tmp_path / "out"
    (out / "base").mkdir(parents=True)
    (out / "base" / "stale.yaml").write_text(HEADER + "kind: Old\n")
    (out / "README.md").write_text("mine\n")
    before = tree(out)
    result = run_kaosgen("render", "project", "-o", "out", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert "ref-modelapi" in result.stderr
    assert tree(out) == before
    missing = tmp_path / "never-created"
    assert run_kaosgen("render", "project", "-o", "never-created", cwd=tmp_path).exit_code == 1
    assert not missing.exists()


def test_warnings_alone_exit_zero_and_quiet_hides_them(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(BASE + "---\n" + agent("modelAPI: ollama\n"))
    result = run_kaosgen("validate", ".", cwd=tmp_path)
    assert result.exit_code == 0
    assert "[deprecated-field]" in result.stderr
    quiet = run_kaosgen("validate", "-q", ".", cwd=tmp_path)
    assert quiet.exit_code == 0
    assert quiet.stderr == ""


def test_missing_input_is_a_usage_error_not_a_traceback(tmp_path: Path) -> None:
    result = run_kaosgen("validate", "--format", "json", "nope.yaml", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "'nope.yaml': no such file or directory" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    code, diagnostics = validate_json("empty", cwd=tmp_path)
    assert code == 1
    assert [(d["rule"], d["message"]) for d in diagnostics] == [("io", "no input files found")]


def test_render_refuses_an_object_id_taken_twice_and_writes_nothing(tmp_path: Path) -> None:
    """`render` reports what `validate` does for [duplicate-object] (before, both passed
    and no environment built: kustomize refuses the second object) and writes nothing."""
    (case,) = [c for c in CASES if c.id == "duplicate-object-with-a-generated-one"]
    write_case(case, tmp_path)
    result = run_kaosgen("render", ".", "-o", "out", cwd=tmp_path)
    assert result.exit_code == 1 and "[duplicate-object]" in result.stderr
    assert not (tmp_path / "out").exists()


def test_text_format_never_passes_control_characters_through(tmp_path: Path) -> None:
    """A file name with a newline cannot forge a diagnostic line in a CI log, and an ESC in
    a shown source line cannot drive the terminal: names are escaped, characters in the
    shown line are U+FFFD (one for one, so the caret stays under its column)."""
    (tmp_path / "kaosgen.yaml").write_text(
        "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n", encoding="utf-8"
    )
    odd = tmp_path / "x\nerror: forged"
    odd.mkdir()
    (odd / "c.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n", encoding="utf-8"
    )
    (tmp_path / "esc.yaml").write_text("a: \x1b[31mred\n", encoding="utf-8")
    result = run_kaosgen("validate", ".", "--color=never", cwd=tmp_path)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert not [line for line in lines if line.startswith("error: forged")], lines
    assert any(line.startswith("x\\x0aerror: forged/c.yaml:3:18: error:") for line in lines)
    assert "\x1b" not in result.stderr
    shown = next(line for line in lines if line.lstrip().startswith("1 | a:"))
    assert shown.endswith("a: \ufffd[31mred")
