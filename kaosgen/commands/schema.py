"""`kaosgen schema`: the JSON Schemas of the KAOS kinds and kaosgen.yaml."""

from __future__ import annotations

import sys

import click

from kaosgen.commands.common import EXIT_ERRORS


@click.command()
@click.option(
    "-o",
    "--output",
    "output_dir",
    type=click.Path(file_okay=False),
    default="schemas",
    show_default=True,
)
@click.option("--check", is_flag=True, help="Exit 1 when the files differ from the models.")
def schema(output_dir: str, check: bool) -> None:
    """Write the JSON Schemas of the KAOS kinds and kaosgen.yaml (for editors and CI)."""
    from pathlib import Path

    from kaosgen.jsonschemas import schema_files

    out = Path(output_dir)
    stale = []
    for name, text in schema_files().items():
        path = out / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            stale.append(name)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    if check and stale:
        click.echo(f"stale schemas in {out}: {', '.join(stale)}; run `kaosgen schema`", err=True)
        sys.exit(EXIT_ERRORS)
    click.echo(f"{out}: {len(stale)} schema file(s) {'stale' if check else 'written'}", err=True)
