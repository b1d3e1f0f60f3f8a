"""A pass-through object's name is checked by the API server's rules for its kind.

A name the API server refuses renders and builds with kustomize, and fails only at apply
(Flux and Argo CD report it minutes later, far from the file): `validate` says so at the
name, with the rule for that kind.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.compiler import validate_json

PROJECT = (
    "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\nenvironments:\n  dev: {namespace: dev}\n"
)


@pytest.mark.parametrize(
    ("api_version", "kind", "name", "valid"),
    [
        ("v1", "ConfigMap", "prompts.v2", True),
        ("v1", "ConfigMap", "My_Config", False),
        ("v1", "ConfigMap", "a" * 253, True),
        ("v1", "ConfigMap", "a" * 254, False),
        ("v1", "ConfigMap", "a..b", False),
        ("v1", "ConfigMap", "prompts\n", False),  # `$` alone would let a final newline pass
        ("v1", "Service", "svc-1", True),
        ("v1", "Service", "1svc", False),  # a DNS-1035 label starts with a letter
        ("v1", "Service", "svc.x", False),
        ("v1", "Service", "s" * 64, False),
        ("v1", "Namespace", "team-a", True),
        ("v1", "Namespace", "team.a", False),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", "system:agent-reader", True),
        ("rbac.authorization.k8s.io/v1", "Role", "a/b", False),
        ("rbac.authorization.k8s.io/v1", "RoleBinding", "..", False),
        ("example.com/v1", "Widget", "Widget-1", False),  # custom resources: subdomains
        ("example.com/v1", "Widget", "widget-1", True),
    ],
)
def test_pass_through_names_follow_their_kinds_rule(
    api_version: str, kind: str, name: str, valid: bool, tmp_path: Path
) -> None:
    (tmp_path / "kaosgen.yaml").write_text(PROJECT, encoding="utf-8")
    (tmp_path / "extra.yaml").write_text(
        f"apiVersion: {api_version}\nkind: {kind}\nmetadata:\n  name: {json.dumps(name)}\n",
        encoding="utf-8",
    )
    code, diags = validate_json(tmp_path)
    names = [d for d in diags if d["rule"] == "name-dns1123"]
    if valid:
        assert not names, names
        return
    assert code == 1
    (error,) = names
    assert error["severity"] == "error" and f"{kind} name" in error["message"]
    assert (Path(error["file"]).name, error["line"], error["column"]) == ("extra.yaml", 4, 9)


def test_a_pass_through_namespace_must_be_a_label(tmp_path: Path) -> None:
    (tmp_path / "kaosgen.yaml").write_text(PROJECT, encoding="utf-8")
    (tmp_path / "extra.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: prompts\n  namespace: Team_A\n",
        encoding="utf-8",
    )
    code, diags = validate_json(tmp_path)
    (error,) = [d for d in diags if d["rule"] == "name-dns1123"]
    assert code == 1 and "'Team_A'" in error["message"] and error["line"] == 5
