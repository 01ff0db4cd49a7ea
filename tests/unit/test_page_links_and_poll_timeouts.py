"""The one page-link check and the one long-poll timeout rule both HTTP layers use."""

from __future__ import annotations

import pytest

from thingport.domain.long_poll import poll_timeout_s
from thingport.domain.model import PageLink
from thingport.errors import BadRequest


@pytest.mark.parametrize(("link", "message"), [
    (PageLink(page_size=0), "Page size must be greater than zero"),
    (PageLink(page_size=10, page=-1), "Page must be positive integer"),
    (PageLink(page_size=0, page=-1), "Page size must be greater than zero"),
    (PageLink(page_size=10, sort_order="UP"), "Invalid sort order: UP"),
])
def test_a_bad_page_link_is_refused_with_thingsboards_message(link: PageLink,
                                                              message: str) -> None:
    with pytest.raises(BadRequest) as raised:
        link.check()
    assert str(raised.value) == message


@pytest.mark.parametrize("order", ["ASC", "DESC", "asc", "Desc"])
def test_a_good_page_link_passes(order: str) -> None:
    PageLink(page_size=1, page=0, sort_order=order).check()


@pytest.mark.parametrize(("timeout_ms", "seconds"), [
    (0, 60.0),  # absent or 0: the default
    (1500, 1.5),
    (300_000, 300.0),
    (900_000, 300.0),  # clamped to the most
    (-5, -0.005),  # expires at once
])
def test_the_poll_timeout_rule(timeout_ms: int, seconds: float) -> None:
    assert poll_timeout_s(timeout_ms, 60_000, 300_000) == seconds
