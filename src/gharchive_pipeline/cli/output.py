"""The CLI's rich output, where data (repository names, logins, paths, error text) is shown as it
is: a repository named `own/[/]` or a login `[link=https://evil.example/]x[/link]` is text, never
console markup (a crash, or a terminal hyperlink). Markup appears only in our own literals, and
every piece of data that goes into one passes through `esc`; emoji codes (`:smile:`) are off.
Progress columns that show data take no markup at all."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import TextColumn

#: Width for tables when the output is not a terminal (rich would use 80 and wrap every cell).
PIPE_WIDTH = 160


def esc(value: object) -> str:
    """`value` as text inside markup: its square brackets do not open or close a style."""
    from rich.markup import escape

    return escape(str(value))


def console(*, stderr: bool = False, pipe_width: int = PIPE_WIDTH) -> Console:
    """A console for the CLI: no emoji codes; as wide as `pipe_width` when piped."""
    from rich.console import Console

    out = Console(stderr=stderr, emoji=False)
    if not out.is_terminal:
        out = Console(stderr=stderr, emoji=False, width=pipe_width)
    return out


def text_column(text_format: str, *, style: str = "none") -> TextColumn:
    """A progress column showing data (hour keys, file names, topics): plain text, no markup."""
    from rich.progress import TextColumn

    return TextColumn(text_format, style=style, markup=False)
