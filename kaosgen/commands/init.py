"""`kaosgen init`: scaffold a project that validates and renders as it is."""

from __future__ import annotations

from pathlib import Path

import click

from kaosgen.commands.common import fail


@click.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
def init(directory: str) -> None:
    """Create a project: kaosgen.yaml, a ModelAPI, an MCP server and an agent.

    The project validates and renders as it is (`kaosgen render DIR`); dev and prod
    environments included. Existing files are never overwritten.
    """
    from kaosgen.scaffold import scaffold

    target = Path(directory)
    try:
        written = scaffold(target)
    except FileExistsError as exc:
        fail(f"would overwrite {exc}; nothing was written (choose an empty directory)")
    for path in written:
        click.echo(f"created {path}", err=True)
    shown = directory if directory != "." else "."
    click.echo(
        f"next: kaosgen validate {shown} && kaosgen render {shown} && kubectl kustomize {Path(shown, 'deploy', 'overlays', 'dev')}",
        err=True,
    )
