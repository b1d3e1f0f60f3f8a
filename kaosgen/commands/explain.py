"""`kaosgen explain`: field documentation, like `kubectl explain`."""

from __future__ import annotations

import click

from kaosgen.commands.common import EXIT_USAGE, fail


@click.command()
@click.argument("field")
def explain(field: str) -> None:
    """Document a field, like `kubectl explain`: kaosgen explain Agent.spec.config.memory

    Kinds: Agent, ModelAPI, MCPServer, and Project (kaosgen.yaml). Shows the type,
    default, constraints and description, and the fields of objects.
    """
    from kaosgen.explain import ExplainError
    from kaosgen.explain import explain as do_explain

    try:
        click.echo(do_explain(field), nl=False)
    except ExplainError as exc:
        fail(str(exc), EXIT_USAGE)
