"""`kaosgen build`: one environment's manifests on stdout (its hydrated objects)."""

from __future__ import annotations

import sys

import click

from kaosgen.commands.common import (
    EXIT_ERRORS,
    FORMATS,
    color_option,
    compile_inputs,
    complete_env,
    describe_inputs,
    failed,
    paths_argument,
    pick_env,
    project_option,
    report,
    strict_option,
    verbose_option,
)

#: Shards in the order GitOps applies them (shard.py); numbered ones by their number.
_SHARD_ORDER = ("all", "platform", "models", "tools", "agents")


def _shard_rank(path: str) -> tuple[int, str]:
    shard = path.split("/")[2]
    stem = shard.rsplit("-", 1)[0] if shard[-1:].isdigit() else shard
    return (_SHARD_ORDER.index(stem) if stem in _SHARD_ORDER else len(_SHARD_ORDER), shard)


def environment_manifests(files: dict[str, str], env_name: str) -> str:
    """The objects of `hydrated/<env>/*/resources.yaml`, shards in order, as one stream."""
    from kaosgen.writer import HEADER

    prefix = f"hydrated/{env_name}/"
    paths = sorted(
        (p for p in files if p.startswith(prefix) and p.endswith("/resources.yaml")),
        key=_shard_rank,
    )
    texts = [files[p].removeprefix(HEADER) for p in paths]
    return "---\n".join(t for t in texts if t.strip())


@click.command()
@paths_argument
@project_option
@click.option(
    "-e",
    "--env",
    "env",
    shell_complete=complete_env,
    envvar=["KAOSGEN_ENV", "ARGOCD_ENV_KAOSGEN_ENV"],
    help="Environment to build (env KAOSGEN_ENV; in the Argo CD plugin ARGOCD_ENV_KAOSGEN_ENV). "
    "Optional when kaosgen.yaml has one environment.",
)
@click.option(
    "--format",
    "fmt",
    type=FORMATS,
    default="text",
    show_default=True,
    help="Diagnostics format (stderr).",
)
@strict_option
@color_option
@verbose_option
def build(
    paths: tuple[str, ...],
    project_file: str | None,
    env: str | None,
    fmt: str,
    strict: bool,
    color: str,
    verbose: bool,
) -> None:
    """Print the manifests of one environment to stdout (its hydrated objects).

    Renders in memory (nothing is written next to the inputs) and prints the objects of
    the environment exactly as `kubectl kustomize overlays/<env>` builds them, with every
    overlay setting applied (the hydrated shards, in the order GitOps applies them), so
    the output is what `kubectl apply -k` would apply, without running kustomize (which
    takes minutes on large projects). This is the Argo CD plugin's generate command.
    PATHS default to the current directory.
    """
    compilation = compile_inputs(paths, project_file, render=True, hydrate_all=True)
    if verbose:
        describe_inputs(compilation, output=False)
    report(compilation, fmt, quiet=True, color=color, strict=strict)
    if failed([compilation], strict=strict):
        sys.exit(EXIT_ERRORS)
    env_name = pick_env(compilation, env, required=True)
    manifests = environment_manifests(compilation.files, str(env_name))
    if verbose:
        count = sum(1 for line in manifests.splitlines() if line.startswith("apiVersion:"))
        click.echo(
            f"built: overlays/{env_name}: {count} object(s), computed in memory (no kustomize run)",
            err=True,
        )
    click.echo(manifests, nl=False)
