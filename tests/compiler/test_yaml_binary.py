"""`!!binary` values are the text their base64 encodes, as kubectl and kustomize read them.

kaosgen kept the base64 text itself, so a ConfigMap value `!!binary aGVsbG8=` was
deployed as "aGVsbG8=" by a render and as "hello" by `kubectl apply -f` of the same
file. Base64 kubectl refuses, or bytes that are not text (kustomize turns them into
U+FFFD), are errors at the value.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from support.compiler import (
    assert_no_traceback,
    build_overlay,
    find,
    kubectl,
    render_ok,
    run_kaosgen,
    validate_json,
)

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n"


def test_binary_values_are_the_text_they_encode(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "c.yaml").write_text(
        CONFIGMAP
        + "  one: !!binary aGVsbG8=\n  block: !!binary |\n    aGVs\n    bG8gd29y\n    bGQ=\n",
        encoding="utf-8",
    )
    out = render_ok(source, tmp_path / "out")
    ours = find(build_overlay(out / "overlays" / "default"), "ConfigMap", "c")["data"]
    assert ours == {"one": "hello", "block": "hello world"}
    # What kubectl kustomize makes of the input file itself.
    (source / "kustomization.yaml").write_text("resources: [c.yaml]\n", encoding="utf-8")
    assert find(build_overlay(source), "ConfigMap", "c")["data"] == ours


def test_binary_kubectl_cannot_read_is_an_error_at_the_value(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        CONFIGMAP + '  unpadded: !!binary "aGVsbG8"\n  bytes: !!binary /w==\n', encoding="utf-8"
    )
    code, diagnostics = validate_json("c.yaml", cwd=tmp_path)
    assert code == 1
    assert [(d["line"], d["column"], d["rule"]) for d in diagnostics] == [
        (5, 13, "yaml-binary"),
        (6, 10, "yaml-binary"),
    ]
    assert "not base64" in diagnostics[0]["message"]
    assert "not UTF-8" in diagnostics[1]["message"]
    result = run_kaosgen("render", "c.yaml", "-o", "out", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.exit_code == 1 and not (tmp_path / "out").exists()


def test_binary_mapping_key_is_an_error_at_the_key(tmp_path: Path) -> None:
    """kubectl kustomize refuses a `!!binary` key (json: unsupported type); kaosgen kept
    its base64 text as the key, deploying what kubectl never would."""
    (tmp_path / "c.yaml").write_text(CONFIGMAP + "  !!binary aGVsbG8=: v\n", encoding="utf-8")
    code, diagnostics = validate_json("c.yaml", cwd=tmp_path)
    assert code == 1
    assert [(d["line"], d["column"], d["rule"]) for d in diagnostics] == [(5, 3, "yaml-binary")]
    assert "'hello'" in diagnostics[0]["hint"]
    (tmp_path / "kustomization.yaml").write_text("resources: [c.yaml]\n", encoding="utf-8")
    kubectl_run = subprocess.run(
        [kubectl(), "kustomize", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert kubectl_run.returncode != 0 and "unsupported type" in kubectl_run.stderr
    result = run_kaosgen("render", "c.yaml", "-o", "out", cwd=tmp_path)
    assert_no_traceback(result)
    assert result.exit_code == 1 and not (tmp_path / "out").exists()
