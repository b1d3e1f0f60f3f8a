"""Files as editors save them: a UTF-8 byte order mark and Windows line endings are
read as kubectl reads them; a UTF-16 file is named as such (it was "not valid UTF-8
(byte 0xff)" at 1:1, which does not say what to do)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.compiler import build_overlay, find, render_ok, validate_json

CONFIGMAP = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  k: "a\\r\\nb"\n  lit: |\n    one\n    two\n'


def test_bom_and_crlf_read_as_kubectl_reads_them(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "c.yaml").write_bytes(b"\xef\xbb\xbf" + CONFIGMAP.replace("\n", "\r\n").encode())
    out = render_ok(source, tmp_path / "out")
    ours = find(build_overlay(out / "overlays" / "default"), "ConfigMap", "c")["data"]
    (source / "kustomization.yaml").write_text("resources: [c.yaml]\n", encoding="utf-8")
    assert ours == find(build_overlay(source), "ConfigMap", "c")["data"]
    assert ours == {"k": "a\r\nb", "lit": "one\ntwo\n"}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_utf16_file_is_named_as_such(tmp_path: Path, encoding: str) -> None:
    bom = "\ufeff" if encoding == "utf-16-be" else ""
    (tmp_path / "c.yaml").write_bytes((bom + CONFIGMAP).encode(encoding))
    code, diagnostics = validate_json("c.yaml", cwd=tmp_path)
    name = encoding.upper()[:6]
    assert code == 1
    assert [(d["line"], d["column"], d["rule"], d["message"], d["hint"]) for d in diagnostics] == [
        (
            1,
            1,
            "encoding",
            f"file is {name} (it starts with a {name} byte order mark), not UTF-8",
            f"save the file as UTF-8 (e.g. iconv -f {name} -t UTF-8)",
        )
    ]
