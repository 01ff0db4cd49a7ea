"""The settings table as people read it: ``--help`` lines and the README's configuration table.

``python -m thingport.settings.doc`` prints the README's table; ``--write README.md`` puts it in
place of the table under ``## Configuration`` (the prose around it is kept).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from thingport.settings import SETTINGS, Setting

SECTION = "\n## Configuration\n"
HEADER = ("| variable | default | |", "| --- | --- | --- |")


def default_value(row: Setting) -> str | None:
    """The default as one would write it in the environment; None when there is none."""
    if row.default is None:
        return None
    if isinstance(row.default, bool):
        return "true" if row.default else "false"
    if isinstance(row.default, float):
        return f"{row.default:g}"
    return str(row.default)


def shown_default(row: Setting, code: str = "") -> str:
    """The default for people: the value (quoted with ``code`` on both sides), and what it
    means when the row says so."""
    value = default_value(row)
    if value is None:
        return row.default_text or "none"
    quoted = f"{code}{value}{code}"
    return f"{quoted} ({row.default_text})" if row.default_text else quoted


def help_line(row: Setting) -> str:
    """The option's ``--help`` text."""
    return f"{row.help} [env {row.env}; default {shown_default(row)}]"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_row(row: Setting) -> str:
    """The row of ``row`` in the README's table."""
    return (f"| `{row.env}` | {_cell(shown_default(row, '`'))} | {_cell(row.help)} |")


def markdown_table(rows: Sequence[Setting] = SETTINGS) -> str:
    """The README's configuration table, one row per setting, in the table's order."""
    return "\n".join([*HEADER, *(markdown_row(row) for row in rows)]) + "\n"


def table_span(readme: str) -> tuple[int, int]:
    """Where the table under ``## Configuration`` is in ``readme``: its first and past-last
    character. ValueError when there is no such section or table."""
    start = readme.index(SECTION) + len(SECTION)
    end = readme.find("\n## ", start)
    section = readme[start:end if end >= 0 else len(readme)]
    first = section.find("\n|")
    if first < 0:
        raise ValueError("no table under ## Configuration")
    first += 1
    last = first
    while last < len(section) and section.startswith("|", last):
        newline = section.find("\n", last)
        last = len(section) if newline < 0 else newline + 1
    return start + first, start + last


def with_table(readme: str) -> str:
    """``readme`` with its configuration table generated again."""
    first, last = table_span(readme)
    return readme[:first] + markdown_table() + readme[last:]


def main(argv: Sequence[str] | None = None) -> None:
    """Print the table, or write it into a README."""
    parser = argparse.ArgumentParser(prog="python -m thingport.settings.doc",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", metavar="README", type=Path,
                        help="replace the configuration table in this file")
    args = parser.parse_args(argv)
    if args.write is None:
        sys.stdout.write(markdown_table())
        return
    text = args.write.read_text(encoding="utf-8")
    args.write.write_text(with_table(text), encoding="utf-8")


if __name__ == "__main__":
    main()
