"""`kaosgen crds`: CustomResourceDefinitions of the three KAOS kinds."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write to this file instead of stdout."
)
def crds(output: str | None) -> None:
    """Print CustomResourceDefinitions for Agent, ModelAPI and MCPServer.

    For teams who also want the KAOS resources themselves stored in the cluster.
    """
    from kaosgen.crds import render_crds

    text = render_crds()
    if output:
        from pathlib import Path

        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
