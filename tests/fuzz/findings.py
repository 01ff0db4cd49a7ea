"""What a fuzz run found: answers of 500 and up, dropped connections, and tracebacks in the
server log, each with the request that caused it."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

#: At most this many kinds of failure are printed, each with its first reproducer.
SHOWN = 20
_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


@dataclass
class Findings:
    """Collects problems as requests are sent; ``check`` fails the test if there are any.

    After every request the server log is read from where it was last read: a traceback that
    appears is blamed on that request (the server logs an error before it answers)."""

    log_path: Path
    problems: list[str] = field(default_factory=list)
    #: The problems by kind (where in the code, what exception), as indices into problems.
    kinds: dict[str, list[int]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    requests: int = 0
    _offset: int = 0

    def __post_init__(self) -> None:
        self._offset = self._size()

    def _size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def _new_log(self) -> str:
        size = self._size()
        if size <= self._offset:
            return ""
        with self.log_path.open("rb") as log:
            log.seek(self._offset)
            text = log.read(size - self._offset).decode("utf-8", "replace")
        self._offset = size
        return text

    def answered(self, status: int | None, reproducer: str, problem: str | None = None) -> None:
        """Record one request: its status (None: no answer) and how to send it again."""
        self.requests += 1
        if status is not None:
            self.statuses[status] += 1
        if problem is None and status is not None and status >= 500:
            problem = f"answered {status}"
        logged = self._new_log()
        if "Traceback" in logged:
            problem = (problem + "; " if problem else "") + "traceback in the server log:\n" + \
                logged[logged.index("Traceback"):][:3000]
        if problem:
            self.problems.append(f"{problem}\n  reproduce with: {reproducer}")
            self.kinds.setdefault(_kind(problem), []).append(len(self.problems) - 1)

    def check(self) -> None:
        """Fail with the reproducing requests if anything went wrong; also scan the whole log
        for a traceback no request was blamed for."""
        logged = self._new_log()
        if "Traceback" in logged:
            problem = "traceback in the server log after the last request:\n" + \
                logged[logged.index("Traceback"):][:3000]
            self.problems.append(problem)
            self.kinds.setdefault(_kind(problem), []).append(len(self.problems) - 1)
        if self.problems:
            kinds = list(self.kinds.items())
            shown = "\n\n".join(
                f"[{len(indices)}x] {self.problems[indices[0]]}" for _, indices in kinds[:SHOWN])
            more = len(kinds) - SHOWN
            raise AssertionError(
                f"{len(self.problems)} of {self.requests} fuzz requests failed, "
                f"{len(kinds)} kinds of failure"
                + (f" ({more} more kinds not shown)" if more > 0 else "")
                + "; the first request of each kind:\n\n" + shown)

    def summary(self) -> str:
        return f"{self.requests} requests, statuses {dict(sorted(self.statuses.items()))}"


def _kind(problem: str) -> str:
    """What tells one failure from another: the innermost frame of our code and the exception
    line of a traceback, else the first line."""
    lines = problem.splitlines()
    if "Traceback" not in problem:
        return lines[0]
    frames = [m for m in _FRAME.finditer(problem) if "/thingport/" in m.group(1)]
    where = f"{frames[-1].group(1)}:{frames[-1].group(3)}" if frames else ""
    exception = next((line for line in lines[1:] if re.match(r"\w[\w.]*(Error|Exception)\b",
                                                             line.strip())), "")
    return f"{where} {exception.strip()[:100]}"
