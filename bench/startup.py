"""CLI start-up benchmark: the pre-commit path.

Times `kaosgen --help` and `kaosgen validate <example>` as whole processes (interpreter
start included), median of N runs, after compiling bytecode once (what an installed
package has). Targets (issue 2): validate on the examples <= 0.5 s, --help <= 0.3 s.

    uv run python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def kaosgen() -> list[str]:
    exe = Path(sys.executable).parent / "kaosgen"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "kaosgen"]


def median_seconds(cmd: list[str], runs: int) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            cmd,
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    site = [p for p in sys.path if p.endswith("site-packages")]
    for path in [REPO / "kaosgen", REPO / "runtime" / "kaos_contract", *map(Path, site)]:
        compileall.compile_dir(path, quiet=1, workers=0)
    rows = [("kaosgen --help", [*kaosgen(), "--help"], 0.3)]
    for example in sorted((REPO / "examples").iterdir()):
        if (example / "kaosgen.yaml").exists():
            rows.append(
                (
                    f"kaosgen validate examples/{example.name}",
                    [*kaosgen(), "validate", str(example), "-q"],
                    0.5,
                )
            )
    rows.append(("python -c pass (interpreter alone)", [sys.executable, "-c", "pass"], None))
    for label, cmd, target in rows:
        seconds = median_seconds(cmd, args.runs)
        verdict = (
            ""
            if target is None
            else f"  target <= {target:.1f} s: {'met' if seconds <= target else 'MISSED'}"
        )
        print(f"{label:<48} {seconds * 1000:7.0f} ms{verdict}")


if __name__ == "__main__":
    main()
