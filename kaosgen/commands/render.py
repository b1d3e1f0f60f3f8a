"""`kaosgen render`: write (or with --check, compare) the rendered output."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from kaosgen.commands.common import (
    EXIT_ERRORS,
    EXIT_OK,
    EXIT_USAGE,
    FORMATS,
    color_option,
    describe_inputs,
    fail,
    failed,
    keep_until_exit,
    merged,
    one_shot,
    os_error,
    paths_argument,
    progress_reporter,
    project_option,
    report,
    strict_option,
    verbose_option,
)


@click.command()
@paths_argument
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
@click.option("-q", "--quiet", is_flag=True, help="Only errors; no warnings, notes or summary.")
@click.option(
    "--force",
    is_flag=True,
    help="Take over an output directory that another project (or an unknown render) wrote.",
)
@strict_option
@color_option
@verbose_option
def render(
    paths: tuple[str, ...],
    output: str | None,
    project_file: str | None,
    check: bool,
    fmt: str,
    quiet: bool,
    force: bool,
    strict: bool,
    color: str,
    verbose: bool,
) -> None:
    """Render kustomize bases and overlays for every environment.

    PATHS default to the current directory. Invalid input (with --strict, a warning too)
    writes nothing. Re-rendering the same input gives byte-identical files; files this
    project's earlier renders wrote but this one does not are removed. The output
    directory belongs to one project (.kaosgen-manifest.yaml): files kaosgen did not write
    there for it are never changed. `-` reads documents from stdin.
    """
    from kaosgen.inputs import output_overlap, render_scope
    from kaosgen.pipeline import compile_project
    from kaosgen.project import group_inputs

    one_shot()
    if output == "-":
        fail(
            "render writes a directory tree, not a stream; to print one environment's "
            "manifests on stdout use `kaosgen build --env ENV PATHS`",
            EXIT_USAGE,
        )
    if output and (overlap := output_overlap(Path(output), paths or (".",))) is not None:
        fail(
            f"-o {output}: the output directory is or contains the input directory {overlap!r}, "
            "so the render would read its own output back; choose a directory of its own",
            EXIT_USAGE,
        )
    groups = group_inputs(list(paths) or ["."], project_file)
    if output and len(groups) > 1:
        click.echo(
            f"error: the inputs belong to {len(groups)} projects (different kaosgen.yaml files); "
            "render them one at a time, or drop -o so each goes to its own output directory",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    progress = progress_reporter(quiet=quiet)
    compilations = []
    for group in groups:
        inputs, widened = render_scope(group, project_file)
        if widened is not None and not quiet:
            progress.close()
            click.echo(
                f"note: {', '.join(group)} belongs to the project in {widened}; rendering the "
                "whole project (its output directory holds all of it)",
                err=True,
            )
        compilations.append(
            keep_until_exit(
                compile_project(inputs, project_file=project_file, output=output, progress=progress)
            )
        )
    progress.close()
    if verbose:
        for compilation in compilations:
            describe_inputs(compilation)
    report(merged(compilations), fmt, quiet=quiet, color=color, strict=strict)
    if failed(compilations, strict=strict) or any(c.output_dir is None for c in compilations):
        sys.exit(EXIT_ERRORS)
    results = [
        write_output(
            c,
            check=check,
            quiet=quiet,
            force=force,
            verbose=verbose,
            progress=progress_reporter(quiet=quiet),
            rerun=_rerun(group, output, project_file),
        )
        for group, c in zip(groups, compilations, strict=True)
    ]
    sys.exit(EXIT_OK if all(results) else EXIT_ERRORS)


def _rerun(group: list[str], output: str | None, project_file: str | None) -> str:
    """The render that brings a stale output up to date: the same inputs and options."""
    import shlex

    args = ["kaosgen", "render", *(p for p in group if p != ".")]
    args += ["-o", output] if output else []
    args += ["--project", project_file] if project_file else []
    return shlex.join(args)


def write_output(
    compilation: Any,
    *,
    check: bool,
    quiet: bool,
    force: bool = False,
    verbose: bool = False,
    progress: Any = None,
    rerun: str = "kaosgen render",
) -> bool:
    """Write (or with --check, compare) one project's output; False when it failed or is
    stale. `progress`: a progress line (closed before anything else is printed); `rerun`:
    the command a stale check tells the user to run."""
    from kaosgen import ownership, writer

    out_dir = compilation.output_dir
    owner = ownership.identity(compilation.project, out_dir)
    report = progress or (lambda *_: None)

    def waiting() -> None:
        if progress is not None:
            progress.close()
        click.echo(f"{out_dir}: waiting for another kaosgen render", err=True)

    try:
        with writer.locked(out_dir, exclusive=not check, on_wait=waiting):
            result, old, planned = writer.plan_changes(
                out_dir, compilation.files, owner, force=force, progress=report
            )
            if not check:
                writer.apply_changes(out_dir, planned, result, progress=report)
    except writer.OutputError as exc:
        if progress is not None:
            progress.close()
        click.echo(f"error: {exc}", err=True)
        return False
    except OSError as exc:
        if progress is not None:
            progress.close()
        click.echo(
            f"error: cannot {'read' if check else 'write'} {out_dir}: {os_error(exc)}", err=True
        )
        return False
    if progress is not None:
        progress.close()
    if result.unowned and not quiet:
        click.echo(
            f"note: {out_dir}: kept {len(result.unowned)} generated file(s) that no render of this "
            f"project wrote ({', '.join(result.unowned[:3])}{', ...' if len(result.unowned) > 3 else ''}); "
            "delete them, or render with --force to remove them",
            err=True,
        )
    if check:
        if result.stale:
            click.echo(writer.unified_diff(out_dir, planned, result, old), nl=False)
            click.echo(
                f"{out_dir}: rendered output is stale ({len(result.added)} to add, {len(result.changed)} to change, "
                f"{len(result.removed)} to remove); run `{rerun}` and commit the result",
                err=True,
            )
            return False
        if not quiet:
            click.echo(f"{out_dir}: up to date ({result.unchanged} files)", err=True)
        return True
    if verbose:
        for mark, names in (("+", result.added), ("~", result.changed), ("-", result.removed)):
            for name in names:
                click.echo(f"  {mark} {out_dir.as_posix()}/{name}", err=True)
    if not quiet:
        click.echo(
            f"{out_dir}: {len(result.added)} added, {len(result.changed)} changed, {len(result.removed)} removed, "
            f"{result.unchanged} unchanged",
            err=True,
        )
    return True
