"""The open-files limit: raised to the hard limit at start, and said once how many long polls
that leaves room for."""

from __future__ import annotations

import logging
import resource
from collections.abc import Callable

import pytest

from thingport.http import limits
from thingport.server import http_limits
from thingport.settings import Settings


class Limits:
    """``resource``'s open-files limit, pretended."""

    def __init__(self, soft: int, hard: int, settable: bool = True) -> None:
        self.soft, self.hard, self.settable = soft, hard, settable

    def getrlimit(self, which: int) -> tuple[int, int]:
        assert which == resource.RLIMIT_NOFILE
        return self.soft, self.hard

    def setrlimit(self, which: int, value: tuple[int, int]) -> None:
        if not self.settable:
            raise ValueError("not allowed")
        self.soft, self.hard = value


Pretend = Callable[..., Limits]


@pytest.fixture
def pretend(monkeypatch: pytest.MonkeyPatch) -> Pretend:
    def install(soft: int, hard: int, settable: bool = True) -> Limits:
        fake = Limits(soft, hard, settable)
        monkeypatch.setattr(limits.resource, "getrlimit", fake.getrlimit)
        monkeypatch.setattr(limits.resource, "setrlimit", fake.setrlimit)
        monkeypatch.setattr(limits, "_open_files_change", None)
        return fake
    return install


def test_the_soft_limit_is_raised_to_the_hard_one(pretend: Pretend) -> None:
    fake = pretend(1024, 1048576)
    assert limits.raise_open_files_limit() == (1024, 1048576)
    assert fake.soft == 1048576
    assert limits.open_files_change() == (1024, 1048576)
    assert limits.open_files_change() is None  # said once


def test_a_limit_that_cannot_be_raised_is_kept(pretend: Pretend) -> None:
    pretend(1024, 4096, settable=False)
    assert limits.raise_open_files_limit() == (1024, 1024)
    line = limits.open_files_line(1024, 1024, 924, 1, configured=False)
    assert line == ("open files: 1024 (could not be raised to 4096): room for about 924 "
                    "connections (long polls)")


def test_the_line_says_how_many_polls_fit(pretend: Pretend) -> None:
    pretend(1048576, 1048576)
    cap, _ = limits.connection_cap(0, 1048576)
    assert limits.open_files_line(1024, 1048576, cap, 1, configured=False) == (
        "open files: 1048576 (raised from 1024): room for about 943,000 connections "
        "(long polls)")
    assert limits.open_files_line(1048576, 1048576, 18_000, 2, configured=False) == (
        "open files: 1048576 (the hard limit): room for about 36,000 connections "
        "(long polls) in 2 processes")
    assert limits.open_files_line(1048576, 1048576, 500, 2, configured=True).endswith(
        "room for about 1,000 connections (long polls) in 2 processes, as "
        "THINGPORT_HTTP_MAX_CONNECTIONS caps them")


def test_the_server_logs_it_once_in_the_process_that_raised_it(
        pretend: Pretend, caplog: pytest.LogCaptureFixture) -> None:
    pretend(1024, 20_000)
    limits.raise_open_files_limit()
    settings = Settings.from_env({"THINGPORT_WORKERS": "1"})
    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        http_limits(settings)
        http_limits(settings)  # a second configuration (or a worker's) says nothing
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("open files")]
    assert lines == ["open files: 20000 (raised from 1024): room for about 18,000 connections "
                     "(long polls)"]
