"""`kaosgen validate`: diagnostics only, nothing written."""

from __future__ import annotations

import sys

import click

from kaosgen.commands.common import (
    EXIT_ERRORS,
    EXIT_OK,
    FORMATS,
    merged,
    one_shot,
    project_option,
    report,
)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@project_option
@click.option(
    "--format", "fmt", type=FORMATS, default="text", show_default=True, help="Diagnostics format."
)
@click.option("-q", "--quiet", is_flag=True, help="Only errors; no warnings.")
def validate(paths: tuple[str, ...], project_file: str | None, fmt: str, quiet: bool) -> None:
    """Check KAOS resources: YAML, schema, references, models, delegation.

    A FILE inside a project (a kaosgen.yaml above it) is checked within that project: its
    references resolve against the project's other files, and only its problems are
    shown. `-` reads documents from stdin. Exit code 1 when any error is found, 0 otherwise.
    """
    from kaosgen.inputs import compile_in_project
    from kaosgen.project import group_inputs

    one_shot()
    compilations = [
        compile_in_project(group, project_file) for group in group_inputs(list(paths), project_file)
    ]
    report(merged(compilations), fmt, quiet=quiet)
    sys.exit(EXIT_OK if all(c.ok for c in compilations) else EXIT_ERRORS)
