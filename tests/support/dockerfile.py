"""A small reader of runtime/Dockerfile: its stages and the image config each target gets.

The tests check the Dockerfile statically with it, and the daemonless image builder
(`support/image_build.py`) takes its image config (ENV, USER, WORKDIR, CMD, EXPOSE) from it,
so the images the tests build and the ones `docker build` makes cannot drift apart.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "runtime" / "Dockerfile"


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(path: Path = DOCKERFILE) -> tuple[dict[str, str], list[Stage]]:
    """Global ARGs and the stages of a Dockerfile (continuations joined, comments dropped)."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name, parts[0]))
        elif stages:
            stages[-1].instructions.append((keyword, rest.strip()))
        elif keyword == "ARG":
            key, _, value = rest.partition("=")
            args[key.strip()] = value.strip()
    return args, stages


def export_arguments(stages: dict[str, Stage]) -> list[str]:
    """The arguments of the build stage's `uv export` (what it installs), without the
    output file: the image builder runs the same export."""
    for run in stages["build"].all("RUN"):
        words = shlex.split(run)
        if "export" in words and words[words.index("export") - 1] == "uv":
            chosen = words[words.index("export") + 1 :]
            chosen = chosen[: chosen.index("&&")] if "&&" in chosen else chosen
            if "--output-file" in chosen:
                at = chosen.index("--output-file")
                del chosen[at : at + 2]
            return chosen
    raise ValueError("the build stage runs no `uv export`")


def env_of(stages: dict[str, Stage], name: str) -> dict[str, str]:
    """ENV in effect in stage `name`, following `FROM <stage>` chains."""
    stage = stages[name]
    env = env_of(stages, stage.base) if stage.base in stages else {}
    for args in stage.all("ENV"):
        for token in shlex.split(args):
            key, _, value = token.partition("=")
            env[key] = value
    return env


def inherited(stages: dict[str, Stage], name: str, keyword: str) -> list[str]:
    stage = stages[name]
    values = inherited(stages, stage.base, keyword) if stage.base in stages else []
    return values + stage.all(keyword)


@dataclass(frozen=True)
class ImageConfig:
    """What `docker build --target TARGET` writes into the image's config."""

    user: str
    workdir: str
    env: dict[str, str]
    cmd: list[str]
    exposed: list[str]


def image_config(target: str, path: Path = DOCKERFILE) -> ImageConfig:
    _, ordered = parse(path)
    stages = {s.name: s for s in ordered}
    exposed = []
    for args in inherited(stages, target, "EXPOSE"):
        exposed.extend(p if "/" in p else f"{p}/tcp" for p in args.split())
    return ImageConfig(
        user=inherited(stages, target, "USER")[-1],
        workdir=inherited(stages, target, "WORKDIR")[-1],
        env=env_of(stages, target),
        cmd=json.loads(inherited(stages, target, "CMD")[-1]),
        exposed=exposed,
    )
