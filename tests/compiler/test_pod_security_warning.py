"""A podSpec that takes a pod out of the restricted Pod Security Standard is warned about,
whichever rule of the standard it breaks: a namespace enforcing `restricted` would refuse
the pod, so the warning must not miss what the admission controller catches."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.compiler import validate_json

PROJECT = "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\n"
API = (
    "apiVersion: kaos.tools/v1alpha1\nkind: ModelAPI\nmetadata: {name: llm}\n"
    "spec: {mode: Hosted, hostedConfig: {model: 'smollm2:135m'}}\n---\n"
)

#: podSpec fragment -> what the warning names.
WEAKENED = {
    "containers: [{name: agent, securityContext: {runAsNonRoot: false}}]": "non-root",
    "containers: [{name: agent, ports: [{containerPort: 9000, hostPort: 9000}]}]": "hostPort",
    "containers: [{name: agent, securityContext: {procMount: Unmasked}}]": "procMount",
    "containers: [{name: agent, securityContext: {seLinuxOptions: {type: spc_t}}}]": "seLinux",
    "containers: [{name: agent, securityContext: {appArmorProfile: {type: Unconfined}}}]": (
        "appArmor"
    ),
    "containers: [{name: agent, securityContext: {windowsOptions: {hostProcess: true}}}]": (
        "hostProcess"
    ),
    "volumes: [{name: shared, nfs: {server: nfs.example.com, path: /}}]": "nfs",
    "securityContext: {sysctls: [{name: kernel.msgmax, value: '65536'}]}": "kernel.msgmax",
    "securityContext: {runAsUser: 0}": "uid 0",
    "ephemeralContainers: [{name: debug, image: 'busybox:1.36'}]": "debug",
}


@pytest.mark.parametrize("fragment", sorted(WEAKENED))
def test_a_weakening_pod_spec_is_warned_about(fragment: str, tmp_path: Path) -> None:
    (tmp_path / "kaosgen.yaml").write_text(PROJECT, encoding="utf-8")
    (tmp_path / "r.yaml").write_text(
        API + "apiVersion: kaos.tools/v1alpha1\nkind: Agent\nmetadata: {name: a}\n"
        f"spec:\n  modelAPI: llm\n  model: 'smollm2:135m'\n  podSpec:\n    {fragment}\n",
        encoding="utf-8",
    )
    _, diagnostics = validate_json(tmp_path)
    assert not [d for d in diagnostics if d["severity"] == "error"], diagnostics
    warnings = [d for d in diagnostics if d["rule"] == "pod-security"]
    assert len(warnings) == 1, diagnostics
    assert WEAKENED[fragment] in warnings[0]["message"], warnings[0]["message"]


def test_the_defaults_pass(tmp_path: Path) -> None:
    (tmp_path / "kaosgen.yaml").write_text(PROJECT, encoding="utf-8")
    (tmp_path / "r.yaml").write_text(
        API + "apiVersion: kaos.tools/v1alpha1\nkind: Agent\nmetadata: {name: a}\n"
        "spec:\n  modelAPI: llm\n  model: 'smollm2:135m'\n",
        encoding="utf-8",
    )
    _, diagnostics = validate_json(tmp_path)
    assert not [d for d in diagnostics if d["rule"] == "pod-security"], diagnostics
