"""Answering the callers of a committed batch: the one rule both stores' writers follow."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


def settle(answers: Iterable[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    """Give each future its result, or its error when there is one. A future already done
    belongs to a caller that was cancelled: its write is committed all the same."""
    for future, result, error in answers:
        if future.done():
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
