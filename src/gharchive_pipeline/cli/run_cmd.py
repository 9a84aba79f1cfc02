"""Placeholder: commands of this group are being built (see the issues)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
