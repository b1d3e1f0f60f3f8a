"""Print checkov's figures per example and overlay, before and after pinning the images.

    uv run python tests/scan/figures.py

Before: the examples as committed (images by tag). After: every image pinned by digest, as
`kaosgen images pin` leaves a project. `skipped` counts the failures tests/scan/
checkov-skips.yaml accepts; the test fails on the others.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.checkov import build_examples, figures, load_skips, run_checkov


def main() -> None:
    skips = load_skips()
    with tempfile.TemporaryDirectory() as tmp:
        table = {
            label: figures(run_checkov(build_examples(Path(tmp) / label, pinned=pinned)), skips)
            for label, pinned in (("before", False), ("after", True))
        }
    print(
        f"{'example/overlay':28} {'before: passed failed skipped':>30} {'after: passed failed skipped':>30}"
    )
    totals = {label: [0, 0, 0] for label in table}
    for key in table["before"]:
        cells = []
        for label in ("before", "after"):
            counts = table[label].get(key, {})
            row = [counts.get("passed", 0), counts.get("failed", 0), counts.get("skipped", 0)]
            totals[label] = [a + b for a, b in zip(totals[label], row, strict=True)]
            cells.append(f"{row[0]:>14} {row[1]:>6} {row[2]:>7}")
        print(f"{'/'.join(key):28} {cells[0]:>30} {cells[1]:>30}")
    cells = [f"{t[0]:>14} {t[1]:>6} {t[2]:>7}" for t in totals.values()]
    print(f"{'total':28} {cells[0]:>30} {cells[1]:>30}")


if __name__ == "__main__":
    main()
