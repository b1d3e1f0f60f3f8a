"""An independent scanner: checkov's Kubernetes checks on every built overlay of every example
and of tests/compiler/data/production.

The examples are pinned first (every image by digest, written into a copy of each
kaosgen.yaml the way `kaosgen images pin` writes it), so the image checks (CKV_K8S_43
"image should use digest", CKV_K8S_15 "image pull policy") must pass. Any other failure must
be in tests/scan/checkov-skips.yaml with its reason; an entry that matches nothing fails too,
so the list never outlives the problems it excuses.

`uv run python tests/scan/figures.py` prints the figures per example, before and after
pinning.
"""

from __future__ import annotations

import pytest
from support.checkov import build_examples, load_skips, run_checkov, triage

IMAGE_CHECKS = {"CKV_K8S_43", "CKV_K8S_15"}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> list:
    from support.checkov import checkov_binary

    checkov_binary()  # skip (or fail in CI) before building anything
    builds = build_examples(tmp_path_factory.mktemp("checkov"), pinned=True)
    return run_checkov(builds)


def test_checkov_saw_every_overlay(results: list) -> None:
    from support.checkov import scanned_projects
    from support.compiler import load_file

    scanned = {(r.example, r.overlay) for r in results}
    for project in scanned_projects():
        (config,) = load_file(project / "kaosgen.yaml")
        overlays = set(config.get("environments") or {"default": {}})
        assert {(project.name, o) for o in overlays} <= scanned, project.name
    assert sum(r.passed for r in results) > 1000  # the Kubernetes checks really ran


def test_no_failure_outside_the_skip_list(results: list) -> None:
    unexpected, _ = triage(results, load_skips())
    assert not unexpected, (
        f"{len(unexpected)} checkov failure(s) not in tests/scan/checkov-skips.yaml "
        "(fix the manifests, or add an entry with its reason):\n"
        + "\n".join(f"  {failure}" for failure in unexpected)
    )


def test_no_stale_skip_entry(results: list) -> None:
    _, stale = triage(results, load_skips())
    assert not stale, (
        "tests/scan/checkov-skips.yaml entries that match no failure any more (delete them):\n"
        + "\n".join(f"  {skip}" for skip in stale)
    )


def test_pinned_images_pass_the_image_checks(results: list) -> None:
    image_results = [r for r in results if r.check in IMAGE_CHECKS]
    assert image_results, "checkov ran no image checks"
    assert all(r.passed for r in image_results), [str(r) for r in image_results if not r.passed]
    skips = {s.check for s in load_skips()}
    assert not skips & IMAGE_CHECKS, "image checks must pass, not be skipped"


def test_the_skip_list_is_well_formed() -> None:
    """Every entry names a check and gives a reason (load_skips checks the rest)."""
    skips = load_skips()
    assert skips
    assert len({(s.check, tuple(s.objects), tuple(s.examples)) for s in skips}) == len(skips)
