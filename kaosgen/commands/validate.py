"""`kaosgen validate`: diagnostics only, nothing written."""

from __future__ import annotations

import sys

import click

from kaosgen.commands.common import (
    EXIT_ERRORS,
    EXIT_OK,
    FORMATS,
    color_option,
    describe_inputs,
    failed,
    merged,
    one_shot,
    paths_argument,
    progress_reporter,
    project_option,
    report,
    strict_option,
    verbose_option,
)


@click.command()
@paths_argument
@project_option
@click.option(
    "--format", "fmt", type=FORMATS, default="text", show_default=True, help="Diagnostics format."
)
@click.option("-q", "--quiet", is_flag=True, help="Only errors; no warnings or notes.")
@strict_option
@color_option
@verbose_option
def validate(
    paths: tuple[str, ...],
    project_file: str | None,
    fmt: str,
    quiet: bool,
    strict: bool,
    color: str,
    verbose: bool,
) -> None:
    """Check KAOS resources: YAML, schema, references, models, delegation.

    PATHS default to the current directory. A FILE inside a project (a kaosgen.yaml above
    it) is checked within that project: its references resolve against the project's other
    files, and only its problems are shown. `-` reads documents from stdin. Exit code 1
    when any error is found (with --strict, any warning too), 0 otherwise.
    """
    from kaosgen.inputs import compile_in_project
    from kaosgen.project import group_inputs

    one_shot()
    progress = progress_reporter(quiet=quiet)
    compilations = [
        compile_in_project(group, project_file, progress=progress)
        for group in group_inputs(list(paths) or ["."], project_file)
    ]
    progress.close()
    if verbose:
        for compilation in compilations:
            describe_inputs(compilation)
    report(merged(compilations), fmt, quiet=quiet, color=color, strict=strict)
    sys.exit(EXIT_ERRORS if failed(compilations, strict=strict) else EXIT_OK)
