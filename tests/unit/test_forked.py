"""ForkedWorker: a process forked now that works only once told ``go``."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from thingport.forked import ForkedWorker


def nothing_to_close() -> None:
    pass


def test_it_works_only_once_told_go(tmp_path: Path) -> None:
    marker = tmp_path / "worked"
    worker = ForkedWorker.fork(lambda: marker.write_text("yes"), nothing_to_close)
    time.sleep(0.2)
    assert not marker.exists()
    assert worker.poll() is None
    worker.go()
    assert worker.wait(10) == 0
    assert marker.read_text() == "yes"


def test_without_go_it_exits_without_working(tmp_path: Path) -> None:
    marker = tmp_path / "worked"
    worker = ForkedWorker.fork(lambda: marker.write_text("yes"), nothing_to_close)
    worker.close_pipe()  # as when the primary gives up starting: the pipe ends, no word said
    assert worker.wait(10) == 0
    assert not marker.exists()


def test_close_runs_in_the_worker_before_anything_else(tmp_path: Path) -> None:
    order = tmp_path / "order"

    def note(word: str) -> None:
        with order.open("a") as f:
            f.write(word + " ")

    worker = ForkedWorker.fork(lambda: note("work"), lambda: note("close"))
    worker.go()
    worker.wait(10)
    assert order.read_text() == "close work "


def raise_exit_3() -> None:
    raise SystemExit(3)


def raise_error() -> None:
    raise RuntimeError("broken")


@pytest.mark.parametrize(("work", "code"), [(raise_exit_3, 3), (raise_error, 1)])
def test_its_exit_code_says_how_the_work_ended(work: object, code: int) -> None:
    worker = ForkedWorker.fork(work, nothing_to_close)  # type: ignore[arg-type]
    worker.go()
    assert worker.wait(10) == code


def test_a_killed_worker_reads_as_its_signal() -> None:
    worker = ForkedWorker.fork(lambda: time.sleep(30), nothing_to_close)
    worker.go()
    with pytest.raises(subprocess.TimeoutExpired):
        worker.wait(0.1)
    worker.kill()
    assert worker.wait(10) == -signal.SIGKILL
    assert worker.poll() == -signal.SIGKILL
    worker.send_signal(signal.SIGTERM)  # a worker that is gone is left alone


def test_a_close_that_fails_ends_the_worker_not_the_code_it_was_forked_from(
        tmp_path: Path) -> None:
    marker = tmp_path / "worked"
    worker = ForkedWorker.fork(lambda: marker.write_text("yes"), raise_error)
    worker.go()
    assert worker.wait(10) == 1
    assert not marker.exists()
