"""`kaosgen graph`: the agent network as Mermaid, DOT or an image."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kaosgen.commands.common import (
    EXIT_ERRORS,
    EXIT_USAGE,
    compile_inputs,
    complete_env,
    fail,
    paths_argument,
    pick_env,
    project_option,
    report,
)


@click.command()
@paths_argument
@project_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot"]),
    default="mermaid",
    show_default=True,
    help="Text format.",
)
@click.option(
    "--output",
    metavar="svg|png|FILE",
    help="Draw an image with Graphviz `dot`: `svg`/`png` to stdout, or a FILE ending in .svg/.png "
    "(.dot/.mmd files get the text formats).",
)
@click.option(
    "-e",
    "--env",
    "env",
    shell_complete=complete_env,
    help="Show the gateway routes of this environment.",
)
def graph(
    paths: tuple[str, ...], project_file: str | None, fmt: str, output: str | None, env: str | None
) -> None:
    """Draw the agent network: agents, ModelAPIs, MCP servers, delegation, gateway routes.

    Prints Mermaid (paste into a Markdown file or a pull request) or DOT. PATHS default to
    the current directory.
    """
    from kaosgen import netgraph

    compilation = compile_inputs(paths, project_file, render=False)
    report(compilation, "text", quiet=True)
    if not compilation.ok or compilation.graph is None:
        sys.exit(EXIT_ERRORS)
    env_name = pick_env(compilation, env, required=False) if env else None
    net = netgraph.build(compilation.graph, compilation.project.project, env_name)
    target: Path | None = None
    image: str | None = None
    if output:
        lowered = output.lower()
        if lowered in ("svg", "png"):
            image = lowered
        else:
            target = Path(output)
            suffix = target.suffix.lower().lstrip(".")
            if suffix in ("svg", "png"):
                image = suffix
            elif suffix in ("dot", "gv"):
                fmt = "dot"
            elif suffix in ("mmd", "mermaid", "md"):
                fmt = "mermaid"
            else:
                fail(
                    f"--output {output!r}: use svg, png, or a file ending in .svg, .png, .dot or .mmd",
                    EXIT_USAGE,
                )
    if image:
        try:
            data = netgraph.render_image(netgraph.to_dot(net), image)
        except netgraph.GraphvizMissing as exc:
            fail(str(exc), EXIT_USAGE)
        except RuntimeError as exc:
            fail(str(exc))
        if target is not None:
            target.write_bytes(data)
            click.echo(f"wrote {target}", err=True)
        elif image == "png" and sys.stdout.isatty():
            fail(
                "refusing to write PNG to a terminal; redirect stdout or pass --output FILE.png",
                EXIT_USAGE,
            )
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        return
    text = netgraph.to_dot(net) if fmt == "dot" else netgraph.to_mermaid(net)
    if target is not None:
        target.write_text(text, encoding="utf-8")
        click.echo(f"wrote {target}", err=True)
    else:
        click.echo(text, nl=False)
