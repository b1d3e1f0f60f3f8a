"""Render benchmark: a synthetic project of 1,000 agents, 100 MCP servers, 10 ModelAPIs
and 3 environments, timed side by side with `kubectl kustomize` on one of its overlays.

Prints figures; asserts nothing. Targets (issue 2): `kaosgen render` <= 3 s wall on the
2-core machine, no slower than kubectl kustomize building one overlay, and linear cost
(2x input <= 2.2x time).

    uv run python bench/render.py [--agents 1000] [--scale-check]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def write_project(root: Path, agents: int, mcps: int, apis: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "kaosgen.yaml").write_text(
        "apiVersion: kaosgen.dev/v1alpha1\nkind: Project\noutput: deploy\n"
        "gateway:\n  enabled: true\n"
        "environments:\n"
        "  dev:\n    namespace: bench-dev\n"
        "  staging:\n    namespace: bench-staging\n    replicas: 2\n"
        "  prod:\n    namespace: bench-prod\n    replicas: 3\n    registry: registry.example.com\n",
        encoding="utf-8",
    )
    docs = []
    for i in range(apis):
        if i % 2:
            docs.append(
                f"apiVersion: kaos.tools/v1alpha1\nkind: ModelAPI\nmetadata:\n  name: api-{i}\nspec:\n"
                f"  mode: Proxy\n  proxyConfig:\n    provider: openai\n    models: ['*']\n"
                f"    apiKey:\n      valueFrom:\n        secretKeyRef: {{name: llm, key: key-{i}}}\n"
            )
        else:
            docs.append(
                f"apiVersion: kaos.tools/v1alpha1\nkind: ModelAPI\nmetadata:\n  name: api-{i}\nspec:\n"
                f"  mode: Hosted\n  hostedConfig:\n    model: smollm2:135m\n"
            )
    for i in range(mcps):
        docs.append(
            f"apiVersion: kaos.tools/v1alpha1\nkind: MCPServer\nmetadata:\n  name: tools-{i}\nspec:\n"
            f"  runtime: python-string\n  params: |\n"
            f'    def tool_{i}(text: str) -> str:\n        """Tool {i}."""\n        return text\n'
        )
    for i in range(agents):
        api = i % apis
        model = "smollm2:135m" if api % 2 == 0 else "gpt-4o-mini"
        peers = "".join(f"    - agent-{(i + k) % agents}\n" for k in (1, 2))
        docs.append(
            f"apiVersion: kaos.tools/v1alpha1\nkind: Agent\nmetadata:\n  name: agent-{i}\nspec:\n"
            f"  modelAPI: api-{api}\n  model: {model}\n"
            f"  mcpServers:\n  - tools-{i % mcps}\n  - tools-{(i * 7) % mcps}\n"
            f"  config:\n    description: Agent number {i}.\n"
            f"    instructions: |\n      You are agent {i}. Be helpful.\n      Use your tools.\n"
            f"  agentNetwork:\n    access:\n{peers}"
        )
    (root / "resources.yaml").write_text("---\n".join(docs), encoding="utf-8")


def timed(cmd: list[str], cwd: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if proc.returncode not in (0,):
            sys.stderr.write(proc.stderr[-2000:])
            raise SystemExit(f"command failed: {' '.join(cmd)}")
    return times


def kaosgen_cmd() -> list[str]:
    exe = shutil.which(
        "kaosgen", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    )
    return [exe] if exe else [sys.executable, "-m", "kaosgen"]


def measure(agents: int, runs: int, kustomize: bool = True) -> dict[str, float]:
    """Median wall times: fresh render, re-render of an up-to-date tree, kustomize (once)."""
    with tempfile.TemporaryDirectory(prefix="kaosgen-bench-") as tmp:
        root = Path(tmp) / "project"
        write_project(root, agents, max(1, agents // 10), 10)
        timed([*kaosgen_cmd(), "render", ".", "-q"], root, 1)  # warm caches and bytecode
        fresh = []
        for _ in range(runs):
            shutil.rmtree(root / "deploy")
            fresh.extend(timed([*kaosgen_cmd(), "render", ".", "-q"], root, 1))
        rerender = timed([*kaosgen_cmd(), "render", ".", "-q"], root, runs)
        figures = {
            "fresh": statistics.median(fresh),
            "rerender": statistics.median(rerender),
            "files": float(sum(1 for _ in (root / "deploy").rglob("*.yaml"))),
            "kustomize": float("nan"),
        }
        kubectl = shutil.which(
            "kubectl",
            path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        )
        if kustomize and kubectl:
            print(
                "timing kubectl kustomize overlays/prod once (kustomize needs minutes at this size) ...",
                flush=True,
            )
            figures["kustomize"] = timed([kubectl, "kustomize", "deploy/overlays/prod"], root, 1)[0]
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--no-kustomize", action="store_true", help="skip the kubectl kustomize comparison"
    )
    parser.add_argument("--scale-check", action="store_true", help="also render 2x the input")
    args = parser.parse_args()
    figures = measure(args.agents, args.runs, kustomize=not args.no_kustomize)
    render_s = max(figures["fresh"], figures["rerender"])
    print(
        f"input: {args.agents} agents, {max(1, args.agents // 10)} MCP servers, 10 ModelAPIs, 3 environments"
    )
    print(
        f"kaosgen render, fresh output dir (median of {args.runs}): {figures['fresh']:.2f} s  ({int(figures['files'])} files)"
    )
    print(f"kaosgen render, tree up to date (median of {args.runs}):  {figures['rerender']:.2f} s")
    print(f"kubectl kustomize overlays/prod (one run):           {figures['kustomize']:.2f} s")
    print(f"target <= 3.0 s: {'met' if render_s <= 3.0 else 'MISSED'}", end="")
    if figures["kustomize"] == figures["kustomize"]:
        print(
            f"; no slower than kustomize: {'met' if render_s <= figures['kustomize'] else 'MISSED'}",
            end="",
        )
    print()
    if args.scale_check:
        double = measure(args.agents * 2, args.runs, kustomize=False)
        ratio = double["fresh"] / figures["fresh"]
        print(
            f"2x input: {double['fresh']:.2f} s fresh, ratio {ratio:.2f} (target <= 2.2: {'met' if ratio <= 2.2 else 'MISSED'})"
        )


if __name__ == "__main__":
    main()
