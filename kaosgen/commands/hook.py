"""`kaosgen hook ...`: the entry points of the pre-commit hooks."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from kaosgen.commands.common import (
    EXIT_ERRORS,
    EXIT_OK,
    FORMATS,
    color_option,
    failed,
    paths_exist,
    report,
    strict_option,
)


@click.group()
def hook() -> None:
    """Entry points of the pre-commit hooks (see .pre-commit-hooks.yaml)."""


files_argument = click.argument("files", nargs=-1, type=click.Path(), callback=paths_exist)


def _changed(files: tuple[str, ...]) -> list[str]:
    """The files pre-commit passed plus the deletions it never passes (hooks.deleted_files)."""
    from kaosgen import hooks

    try:
        return [*files, *hooks.deleted_files()]
    except hooks.HookError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERRORS)


@hook.command("validate")
@files_argument
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@strict_option
@color_option
def hook_validate(files: tuple[str, ...], fmt: str, strict: bool, color: str) -> None:
    """Validate the projects that hold the changed KAOS files."""
    from kaosgen import hooks
    from kaosgen.pipeline import compile_project

    found = hooks.targets(_changed(files), top=Path.cwd(), kaos_only=True)
    compilations = [
        compile_project(
            [hooks.rel(project)], project_file=hooks.rel(project / "kaosgen.yaml"), render=False
        )
        for project in found.projects
    ]
    if found.loose_dirs:
        compilations.append(compile_project([hooks.rel(d) for d in found.loose_dirs], render=False))
    for compilation in compilations:
        report(compilation, fmt, color=color, strict=strict)
    sys.exit(EXIT_ERRORS if failed(compilations, strict=strict) else EXIT_OK)


def _hook_plans(
    files: tuple[str, ...], *, write: bool, strict: bool = False
) -> Iterator[tuple[str, Any, Any]]:
    """For each project the hook covers: (shown path, compilation, changes), the changes
    applied when `write`.

    Projects that do not render, or whose output dir kaosgen may not write (a user's file,
    another project's directory, a link), are reported here and yield no changes (the
    hook then fails).
    """
    from kaosgen import hooks, ownership, writer
    from kaosgen.pipeline import compile_project

    top = Path.cwd()
    changed = _changed(files)
    projects = (
        hooks.targets(changed, top=top, kaos_only=False).projects
        if changed or hooks.under_pre_commit()
        else hooks.discover_projects(top)
    )
    for project in projects:
        shown = hooks.rel(project)
        compilation = compile_project([shown], project_file=hooks.rel(project / "kaosgen.yaml"))
        report(compilation, "text", quiet=True, strict=strict)
        if failed([compilation], strict=strict) or compilation.output_dir is None:
            click.echo(f"{shown}: does not render; fix the errors above", err=True)
            yield shown, compilation, None
            continue
        out_dir = compilation.output_dir
        try:
            with writer.locked(out_dir, exclusive=write):
                result, _, planned = writer.plan_changes(
                    out_dir, compilation.files, ownership.identity(compilation.project, out_dir)
                )
                if write and result.stale:
                    writer.apply_changes(out_dir, planned, result)
        except (writer.OutputError, OSError) as exc:
            click.echo(f"error: {exc}", err=True)
            yield shown, compilation, None
            continue
        yield shown, compilation, result


@hook.command("render-check")
@files_argument
@strict_option
def hook_render_check(files: tuple[str, ...], strict: bool) -> None:
    """Fail when a changed project's rendered output is stale (or hand-edited).

    With no FILES (and not run by pre-commit), every project (kaosgen.yaml) below the
    current directory is checked.
    """
    stale_or_broken = False
    for shown, compilation, result in _hook_plans(files, write=False, strict=strict):
        if result is None or result.stale:
            stale_or_broken = True
        if result is None or not result.stale:
            continue
        out_dir = compilation.output_dir
        for mark, names in (("+", result.added), ("~", result.changed), ("-", result.removed)):
            for name in names:
                click.echo(f"  {mark} {out_dir.as_posix()}/{name}", err=True)
        click.echo(
            f"{out_dir.as_posix()}: rendered output is stale ({len(result.added)} to add, {len(result.changed)} to change, "
            f"{len(result.removed)} to remove); run `kaosgen render {shown}` and commit the result",
            err=True,
        )
    sys.exit(EXIT_ERRORS if stale_or_broken else EXIT_OK)


@hook.command("render")
@files_argument
@strict_option
def hook_render(files: tuple[str, ...], strict: bool) -> None:
    """Re-render the changed projects; exit 1 when a file changed (so it gets staged)."""
    stale_or_broken = False
    for _shown, compilation, result in _hook_plans(files, write=True, strict=strict):
        if result is None:
            stale_or_broken = True
        elif result.stale:
            click.echo(
                f"{compilation.output_dir.as_posix()}: re-rendered ({len(result.added)} added, {len(result.changed)} changed, "
                f"{len(result.removed)} removed); review and stage the changes",
                err=True,
            )
            stale_or_broken = True
    sys.exit(EXIT_ERRORS if stale_or_broken else EXIT_OK)
