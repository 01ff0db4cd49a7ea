"""The README's configuration table names exactly the environment variables the code reads.

The code's list is what it really reads: every ``Setting.env`` of ``SETTINGS``, and every name
``TlsConfig.from_env`` looks up (recorded by handing it a mapping that notes each lookup), so a
variable added to either without a row in the table, or a row left for a variable the code no
longer reads, fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from thingport.settings import SETTINGS
from thingport.tls import TlsConfig

README = Path(__file__).resolve().parents[2] / "README.md"
VARIABLE = re.compile(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`")


class RecordingEnv(Mapping[str, str]):
    """An empty environment that remembers every name it was asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.asked.add(name)
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def tls_variables() -> set[str]:
    env = RecordingEnv()
    TlsConfig.from_env(env)
    return env.asked


def code_variables() -> set[str]:
    return {setting.env for setting in SETTINGS} | tls_variables()


def readme_table_variables() -> set[str]:
    """The variables named in the first column of the table under ``## Configuration``."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    names: set[str] = set()
    for row in rows[2:]:  # after the header and its --- line
        first_cell = row.split("|")[1]
        found = VARIABLE.findall(first_cell)
        assert found, f"a configuration row that names no variable: {row}"
        names.update(found)
    return names


def test_tls_variables_are_recorded() -> None:
    # The recorder itself must see what from_env reads, or the comparison below proves nothing.
    assert {"SSL_ENABLED", "SSL_PEM_CERT", "SSL_KEY_STORE", "SSL_KEY_PASSWORD"} <= tls_variables()


def test_the_configuration_table_is_one_table() -> None:
    # A paragraph in the middle splits it in two, and the rows after it render as text.
    section = README.read_text(encoding="utf-8").split("\n## Configuration\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    blocks = re.findall(r"(?:^\|.*\n)+", section, flags=re.M)
    assert len(blocks) == 1, f"the table is split into {len(blocks)} parts"


def test_the_readme_names_every_variable_the_code_reads() -> None:
    missing = sorted(code_variables() - readme_table_variables())
    assert not missing, f"read by the code, missing from README.md's configuration table: {missing}"


def test_the_readme_names_no_variable_the_code_does_not_read() -> None:
    extra = sorted(readme_table_variables() - code_variables())
    assert not extra, f"in README.md's configuration table, read by no code: {extra}"
