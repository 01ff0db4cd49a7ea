"""The README's configuration table and the settings table in the code agree.

Every setting (``SETTINGS``, the ``SSL_*`` ones included) has its row in the README with the
same default, no row names a variable the code does not read, and the table is exactly what
``python -m thingport.settings.doc --write README.md`` generates (so that a changed help text is
regenerated too).
"""

from __future__ import annotations

import re
from pathlib import Path

from thingport.settings import SETTINGS
from thingport.settings.doc import markdown_table, shown_default, table_span, with_table

README = Path(__file__).resolve().parents[2] / "README.md"
CELL_SEPARATOR = re.compile(r"(?<!\\)\|")
REGENERATE = "run: python -m thingport.settings.doc --write README.md"


def table_rows(readme: str) -> dict[str, str]:
    """The README table's rows: variable -> its default cell."""
    first, last = table_span(readme)
    lines = readme[first:last].splitlines()
    rows: dict[str, str] = {}
    for line in lines[2:]:  # after the header and its --- line
        cells = [cell.strip() for cell in CELL_SEPARATOR.split(line)[1:-1]]
        name = re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", cells[0])
        assert name, f"a configuration row that names no single variable: {line}"
        assert name.group(1) not in rows, f"two rows for {name.group(1)}"
        rows[name.group(1)] = cells[1].replace("\\|", "|")
    return rows


def differences(readme: str) -> list[str]:
    """What differs between ``readme``'s table and the code, one line each."""
    rows = table_rows(readme)
    problems = []
    for setting in SETTINGS:
        if setting.env not in rows:
            problems.append(f"{setting.env}: read by the code, missing from the table")
        elif rows[setting.env] != shown_default(setting, "`"):
            problems.append(f"{setting.env}: default {rows[setting.env]!r} in the README, "
                            f"{shown_default(setting, '`')!r} in the code")
    known = {setting.env for setting in SETTINGS}
    problems += [f"{name}: in the table, read by no code" for name in rows if name not in known]
    return problems


def test_every_setting_has_its_row_with_its_default_and_no_other_row() -> None:
    problems = differences(README.read_text(encoding="utf-8"))
    assert not problems, "\n".join([*problems, REGENERATE])


def test_the_table_is_the_generated_one() -> None:
    readme = README.read_text(encoding="utf-8")
    first, last = table_span(readme)
    assert readme[first:last] == markdown_table(), REGENERATE


def test_the_configuration_table_is_one_table() -> None:
    # A paragraph in the middle splits it in two, and the rows after it render as text.
    section = README.read_text(encoding="utf-8").split("\n## Configuration\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    blocks = re.findall(r"(?:^\|.*\n)+", section, flags=re.M)
    assert len(blocks) == 1, f"the table is split into {len(blocks)} parts"


def test_a_stale_or_unknown_row_is_found() -> None:
    # The comparison itself must see a difference, or the tests above prove nothing.
    readme = with_table(README.read_text(encoding="utf-8"))
    assert differences(readme) == []
    port = next(s for s in SETTINGS if s.env == "HTTP_BIND_PORT")
    stale = readme.replace(f"| `HTTP_BIND_PORT` | `{port.default}` |",
                           "| `HTTP_BIND_PORT` | `80` |")
    assert differences(stale) == ["HTTP_BIND_PORT: default '`80`' in the README, '`8080`' in "
                                  "the code"]
    _, last = table_span(readme)
    unknown = readme[:last] + "| `THINGPORT_NO_SUCH` | `1` | gone |\n" + readme[last:]
    assert differences(unknown) == ["THINGPORT_NO_SUCH: in the table, read by no code"]
    missing = "\n".join(line for line in readme.splitlines() if "`SSL_KEY_ALIAS`" not in line)
    assert differences(missing) == ["SSL_KEY_ALIAS: read by the code, missing from the table"]


def test_regenerating_keeps_the_prose_around_the_table() -> None:
    readme = README.read_text(encoding="utf-8")
    first, last = table_span(readme)
    changed = readme[:first] + "| variable | default | |\n| --- | --- | --- |\n" + readme[last:]
    assert with_table(changed) == with_table(readme)
    assert with_table(changed)[:first] == readme[:first]
    assert with_table(changed).endswith(readme[last:])
