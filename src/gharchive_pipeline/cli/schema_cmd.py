"""`gharchive schema`: print the events table schema in the form a tool needs."""

from __future__ import annotations

import click

from .. import schema


@click.command("schema")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["arrow", "bigquery", "json", "markdown"]),
    default="arrow",
    show_default=True,
    help="arrow: the parquet schema; bigquery: JSON for `bq mk`/Terraform; json: the neutral definition; "
    "markdown: the column table of docs/schema.md.",
)
def schema_command(fmt: str) -> None:
    """Print the one schema the parquet files, BigQuery and Spark all derive from."""
    click.echo(schema.render(fmt))


COMMANDS = [schema_command]
