"""`kaosgen render`: write (or with --check, compare) the rendered output."""

from __future__ import annotations

import sys
from typing import Any

import click

from kaosgen.commands.common import (
    EXIT_ERRORS,
    EXIT_OK,
    EXIT_USAGE,
    FORMATS,
    merged,
    one_shot,
    os_error,
    project_option,
    report,
)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False),
    help="Output directory (default: `output` in kaosgen.yaml, else ./deploy).",
)
@project_option
@click.option(
    "--check", is_flag=True, help="Write nothing; exit 1 with a diff when the output is stale."
)
@click.option(
    "--format", "fmt", type=FORMATS, default="text", show_default=True, help="Diagnostics format."
)
@click.option("-q", "--quiet", is_flag=True, help="Only errors; no warnings or summary.")
def render(
    paths: tuple[str, ...],
    output: str | None,
    project_file: str | None,
    check: bool,
    fmt: str,
    quiet: bool,
) -> None:
    """Render kustomize bases and overlays for every environment.

    Invalid input writes nothing. Re-rendering the same input gives byte-identical files;
    files kaosgen generated earlier but no longer generates are removed.
    """
    from kaosgen.pipeline import compile_project
    from kaosgen.project import group_inputs

    one_shot()
    groups = group_inputs(list(paths), project_file)
    if output and len(groups) > 1:
        click.echo(
            f"error: the inputs belong to {len(groups)} projects (different kaosgen.yaml files); "
            "render them one at a time, or drop -o so each goes to its own output directory",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    compilations = [compile_project(g, project_file=project_file, output=output) for g in groups]
    report(merged(compilations), fmt, quiet=quiet)
    if not all(c.ok and c.output_dir is not None for c in compilations):
        sys.exit(EXIT_ERRORS)
    results = [write_output(c, check=check, quiet=quiet) for c in compilations]
    sys.exit(EXIT_OK if all(results) else EXIT_ERRORS)


def write_output(compilation: Any, *, check: bool, quiet: bool) -> bool:
    """Write (or with --check, compare) one project's output; False when it failed or is stale."""
    from kaosgen import writer

    out_dir = compilation.output_dir
    try:
        result, old = writer.plan_changes(out_dir, compilation.files)
    except FileExistsError as exc:
        click.echo(f"error: {exc}", err=True)
        return False
    except OSError as exc:
        click.echo(f"error: cannot read {out_dir}: {os_error(exc)}", err=True)
        return False
    if check:
        if result.stale:
            click.echo(writer.unified_diff(out_dir, compilation.files, result, old), nl=False)
            click.echo(
                f"{out_dir}: rendered output is stale ({len(result.added)} to add, {len(result.changed)} to change, "
                f"{len(result.removed)} to remove); run `kaosgen render` and commit the result",
                err=True,
            )
            return False
        if not quiet:
            click.echo(f"{out_dir}: up to date ({result.unchanged} files)", err=True)
        return True
    try:
        writer.apply_changes(out_dir, compilation.files, result)
    except OSError as exc:
        click.echo(f"error: cannot write {out_dir}: {os_error(exc)}", err=True)
        return False
    if not quiet:
        click.echo(
            f"{out_dir}: {len(result.added)} added, {len(result.changed)} changed, {len(result.removed)} removed, "
            f"{result.unchanged} unchanged",
            err=True,
        )
    return True
