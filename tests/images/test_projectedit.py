"""`kaosgen images pin` edits kaosgen.yaml: the user's text must survive byte for byte."""

from __future__ import annotations

import difflib
import stat
import textwrap
from pathlib import Path

import pytest
from support.compiler import example_dirs

from kaosgen.projectedit import DIGESTS_COMMENT, EditError, replace_file, with_digests

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
PINS = {"ghcr.io/kaosgen/agent-runtime:0.1.0": D1, "docker.io/ollama/ollama:0.12.6": D2}


def only_additions(before: str, after: str) -> list[str]:
    """The lines `after` adds; fails when it removes or changes any line of `before`."""
    diff = list(difflib.ndiff(before.splitlines(keepends=True), after.splitlines(keepends=True)))
    removed = [line for line in diff if line.startswith("- ")]
    assert not removed, "".join(removed)
    return [line[2:] for line in diff if line.startswith("+ ")]


@pytest.mark.parametrize("example", [p.name for p in example_dirs()])
def test_examples_keep_every_line(example: str) -> None:
    text = (Path("examples") / example / "kaosgen.yaml").read_text()
    edited = with_digests(text, PINS)
    added = only_additions(text, edited)
    assert added == [
        "images:\n",
        f"  # {DIGESTS_COMMENT}\n",
        "  digests:\n",
        f"    docker.io/ollama/ollama:0.12.6: {D2}\n",
        f"    ghcr.io/kaosgen/agent-runtime:0.1.0: {D1}\n",
    ]
    # Removing them again gives back the file exactly.
    assert with_digests(edited, {}) == text


CASES = {
    "four-space indent, indented sequences": """\
        # top comment
        apiVersion: kaosgen.dev/v1alpha1   # aligned comment
        kind: Project
        images:
            agent: ghcr.io/acme/agent:1.0  # ours
            mcpRuntimes:
                slack:
                    image: ghcr.io/korotovsky/slack-mcp-server:v1.1.26
                    args:
                        - --transport
                        - "http"
        environments:
            dev:
                namespace: 'dev'
                gateway:
                    hostnames:
                        - a.example.com
        """,
    "flow mappings and an explicit start": """\
        ---
        apiVersion: kaosgen.dev/v1alpha1
        kind: Project
        images: {agent: "ghcr.io/acme/agent:1.0"}
        environments: {dev: {namespace: dev}}
        """,
    "long lines and block scalars": """\
        apiVersion: kaosgen.dev/v1alpha1
        kind: Project
        labels:
          description-that-is-long: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbb"
        environments:
          dev:
            annotations:
              note: |
                two lines
                of text
        # trailing comment
        """,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layouts_survive(name: str) -> None:
    text = textwrap.dedent(CASES[name])
    edited = with_digests(text, PINS)
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(edited)
    assert data["images"]["digests"] == PINS
    if "{" not in text:
        only_additions(text, edited)
    assert with_digests(edited, {}).replace("images: {agent", "images: {agent") == text


def test_updates_keep_entry_comments_and_sort() -> None:
    text = textwrap.dedent(f"""\
        apiVersion: kaosgen.dev/v1alpha1
        images:
          digests:
            zz.io/last:1: {D1}  # keep me
            aa.io/first:1: {D1}
        """)
    edited = with_digests(text, {"zz.io/last:1": D2, "mm.io/middle:1": D1})
    assert edited == textwrap.dedent(f"""\
        apiVersion: kaosgen.dev/v1alpha1
        images:
          digests:
            mm.io/middle:1: {D1}
            zz.io/last:1: {D2}  # keep me
        """)


def test_crlf_files_stay_crlf() -> None:
    text = "# c\r\napiVersion: kaosgen.dev/v1alpha1\r\nkind: Project\r\n"
    edited = with_digests(text, PINS)
    assert "\n" not in edited.replace("\r\n", "")
    assert edited.startswith(text)
    assert with_digests(edited, {}) == text


def test_an_empty_file_gets_the_digests() -> None:
    edited = with_digests("", {"a.io/b:1": D1})
    assert edited == f"images:\n  # {DIGESTS_COMMENT}\n  digests:\n    a.io/b:1: {D1}\n"


@pytest.mark.parametrize("text", ["- a\n- b\n", "images: [a]\n"])
def test_shapes_it_cannot_edit_are_errors(text: str) -> None:
    with pytest.raises(EditError):
        with_digests(text, PINS)


def test_replace_file_is_atomic_and_keeps_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "kaosgen.yaml"
    path.write_text("a: 1\n")
    path.chmod(0o640)
    replace_file(path, "a: 1\n", "a: 2\n")
    assert path.read_text() == "a: 2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["kaosgen.yaml"]


def test_replace_file_refuses_a_file_changed_meanwhile(tmp_path: Path) -> None:
    path = tmp_path / "kaosgen.yaml"
    path.write_text("a: changed\n")
    with pytest.raises(EditError, match="changed while kaosgen was working"):
        replace_file(path, "a: 1\n", "a: 2\n")
    assert path.read_text() == "a: changed\n"
