"""`kaosgen images`: the images each environment deploys; `kaosgen images pin`: their digests.

`kaosgen images [PATHS]` is `kaosgen images list [PATHS]`: the group runs `list` unless
the first argument names a subcommand (a directory called `pin` is `./pin`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from kaosgen.commands.common import (
    EXIT_ERRORS,
    EXIT_OK,
    EXIT_USAGE,
    compile_inputs,
    fail,
    one_shot,
    paths_argument,
    pick_env,
    project_option,
    report,
)

_format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
_env_option = click.option(
    "-e", "--env", "env", help="Only this environment (default: every environment)."
)


class _DefaultList(click.Group):
    """`kaosgen images ARGS` means `kaosgen images list ARGS`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultList)
def images() -> None:
    """List the images each environment deploys, and pin them by digest.

    \b
    kaosgen images [PATHS]      every image of every environment (same as `images list`)
    kaosgen images pin [PATHS]  resolve tags to digests and write them into kaosgen.yaml
    """


def _compile(paths: tuple[str, ...], project_file: str | None) -> Any:
    one_shot()
    compilation = compile_inputs(paths, project_file, render=True)
    report(compilation, "text", quiet=True)
    if not compilation.ok or compilation.project is None:
        sys.exit(EXIT_ERRORS)
    return compilation


def _environments(compilation: Any, env: str | None) -> list[str]:
    if env is not None:
        return [pick_env(compilation, env, required=True) or env]
    return sorted(compilation.project.project.environments)


# --- list ----------------------------------------------------------------------------


@images.command("list")
@paths_argument
@project_option
@_env_option
@_format_option
def list_images(
    paths: tuple[str, ...], project_file: str | None, env: str | None, fmt: str
) -> None:
    """Every image each environment deploys (after its overrides, registry and digests).

    Read from the rendered overlays as `kustomize build` reads them; images of objects you
    wrote yourself (pass-through resources) are marked `yours`: kaosgen never rewrites them.
    """
    from kaosgen.images import deployed

    compilation = _compile(paths, project_file)
    project = compilation.project.project
    listing = {name: deployed(compilation.files, name) for name in _environments(compilation, env)}
    if fmt == "json":
        payload = {
            "environments": {
                name: {
                    "namespace": project.environments[name].namespace,
                    "images": [item.as_json() for item in items],
                }
                for name, items in listing.items()
            }
        }
        click.echo(json.dumps(payload, indent=2))
        return
    rows = [
        (
            name,
            "yes" if item.pinned else "no",
            item.image,
            ", ".join(item.used_by) + ("" if item.managed else " (yours)"),
        )
        for name, items in listing.items()
        for item in items
    ]
    header = ("ENVIRONMENT", "PINNED", "IMAGE", "USED BY")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        click.echo(
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        )
    unpinned = sum(1 for r in rows if r[1] == "no")
    summary = f"{len(rows)} image(s) in {len(listing)} environment(s)"
    if unpinned:
        summary += f"; {unpinned} not pinned by digest: run `kaosgen images pin`"
    click.echo(summary, err=True)


# --- pin -----------------------------------------------------------------------------


@images.command("pin")
@paths_argument
@project_option
@_env_option
@click.option("--update", is_flag=True, help="Resolve every tag again, also those pinned already.")
@click.option(
    "--check",
    is_flag=True,
    help="Offline: exit 1 when an image has no digest or a digest is no longer used.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1, max=600),
    default=30.0,
    show_default=True,
    help="Seconds to wait for each registry answer.",
)
@_format_option
def pin(
    paths: tuple[str, ...],
    project_file: str | None,
    env: str | None,
    update: bool,
    check: bool,
    timeout: float,
    fmt: str,
) -> None:
    """Resolve image tags to manifest digests and write them into kaosgen.yaml.

    Asks each image's registry (the OCI distribution API; a multi-platform image pins its
    index) and records `ref: digest` under `images.digests`, keeping the rest of
    kaosgen.yaml as written. Every environment then runs `ref@digest`; a registry rewrite
    (`registry:`) keeps the digest, so a mirror must copy images unchanged.

    Credentials come from `docker login`: $DOCKER_CONFIG/config.json (default
    ~/.docker/config.json), including credential helpers. Nothing is written unless every
    image resolves. Exit 1 when one does not, 2 on usage errors.
    """
    from kaosgen.images import pin_targets
    from kaosgen.source import display_path

    compilation = _compile(paths, project_file)
    loaded = compilation.project
    if loaded.path is None:
        fail(
            "no kaosgen.yaml found for these inputs, so there is nowhere to record digests; "
            "create one next to them (apiVersion: kaosgen.dev/v1alpha1, kind: Project) or "
            "pass --project",
            EXIT_USAGE,
        )
    project = loaded.project
    envs = _environments(compilation, env)
    current = dict(project.images.digests)
    targets = pin_targets(compilation.files, project, envs)
    stale = sorted(set(current) - set(targets)) if env is None else []
    wanted = sorted(ref for ref in targets if update or ref not in current)
    if check:
        _check(display_path(loaded.path), current, targets, stale, fmt)
    resolved, errors = _resolve(wanted, timeout)
    new = {k: v for k, v in current.items() if k not in stale} | resolved
    result = {
        "file": display_path(loaded.path),
        "pinned": {
            ref: resolved[ref] for ref in sorted(resolved) if current.get(ref) != resolved[ref]
        },
        "unchanged": sorted(
            ref for ref in targets if ref in current and new.get(ref) == current[ref]
        ),
        "removed": stale,
        "errors": errors,
    }
    if errors:
        _print_pin(result, fmt)
        click.echo(
            f"error: {len(errors)} image(s) did not resolve; kaosgen.yaml is unchanged", err=True
        )
        sys.exit(EXIT_ERRORS)
    if new != current:
        _write(loaded, new)
    _print_pin(result, fmt)
    sys.exit(EXIT_OK)


def _check(
    path: str, current: dict[str, str], targets: dict[str, set[str]], stale: list[str], fmt: str
) -> None:
    missing = sorted(ref for ref in targets if ref not in current)
    if fmt == "json":
        click.echo(json.dumps({"file": str(path), "unpinned": missing, "stale": stale}, indent=2))
    else:
        for ref in missing:
            click.echo(f"not pinned: {ref}  ({', '.join(sorted(targets[ref]))})")
        for ref in stale:
            click.echo(f"no longer deployed: {ref}")
    if missing or stale:
        click.echo(f"{path}: digests are out of date; run `kaosgen images pin`", err=True)
        sys.exit(EXIT_ERRORS)
    click.echo(f"{path}: every image is pinned ({len(targets)})", err=True)
    sys.exit(EXIT_OK)


def _resolve(refs: list[str], timeout: float) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Each reference's digest, and what failed (never raises for a registry's answer)."""
    if not refs:
        return {}, []
    from kaosgen import imageref
    from kaosgen.dockerconfig import CredentialsError, DockerConfig
    from kaosgen.registry import RegistryError, Resolver

    try:
        config = DockerConfig()
    except CredentialsError as exc:
        fail(str(exc))
    resolver = Resolver(
        credentials=config.credentials,
        connect_timeout=min(timeout, 10.0),
        read_timeout=timeout,
    )
    resolved: dict[str, str] = {}
    errors: list[dict[str, str]] = []
    try:
        for ref in refs:
            try:
                resolved[ref] = resolver.resolve(imageref.parse(ref))
            except RegistryError as exc:
                errors.append({"image": ref, "message": exc.message, "hint": exc.hint})
    finally:
        resolver.close()
    return resolved, errors


def _write(loaded: Any, digests: dict[str, str]) -> None:
    """Record the digests in kaosgen.yaml, after checking the edit changed nothing else."""
    from kaosgen.diagnostics import Diagnostics
    from kaosgen.models.project import Project
    from kaosgen.projectedit import EditError, replace_file, with_digests
    from kaosgen.schema_check import check_document
    from kaosgen.source import parse_text

    path: Path = loaded.path
    text = loaded.text or ""
    try:
        new_text = with_digests(text, digests)
    except EditError as exc:
        fail(f"{path}: {exc}")
    diags = Diagnostics()
    docs = parse_text(str(path), new_text, diags)
    edited = check_document(docs[0], Project, diags) if docs else None
    before = loaded.project.model_dump(exclude={"images": {"digests"}})
    if (
        edited is None
        or edited.images.digests != digests
        or edited.model_dump(exclude={"images": {"digests"}}) != before
    ):  # pragma: no cover - a bug in the editor, never the user's fault
        fail(f"{path}: editing it would change more than images.digests; nothing written")
    try:
        replace_file(path, text, new_text)
    except EditError as exc:
        fail(str(exc))


def _print_pin(result: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
        return
    for ref, digest in result["pinned"].items():
        click.echo(f"pinned {ref}@{digest}")
    for ref in result["removed"]:
        click.echo(f"removed {ref} (no longer deployed)")
    for error in result["errors"]:
        click.echo(f"error: {error['image']}: {error['message']}", err=True)
        if error["hint"]:
            click.echo(f"  help: {error['hint']}", err=True)
    if not result["errors"]:
        changed = len(result["pinned"]) + len(result["removed"])
        tail = "; run `kaosgen render`" if changed else ""
        click.echo(
            f"{result['file']}: {len(result['pinned'])} pinned, {len(result['removed'])} removed, "
            f"{len(result['unchanged'])} unchanged{tail}",
            err=True,
        )
