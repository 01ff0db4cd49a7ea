"""Which proxies are believed (THINGPORT_TRUSTED_PROXIES), and what the setting accepts."""

from __future__ import annotations

import pytest

from thingport.http import forwarded
from thingport.http.forwarded import TRUSTED_PROXY, ForwardedHeaders, TrustedProxies
from thingport.settings import parse_base_url, parse_trusted_proxies


def test_addresses_and_networks() -> None:
    trusted = TrustedProxies("127.0.0.1, 10.0.0.0/8,::1")
    assert "127.0.0.1" in trusted and "10.20.30.40" in trusted and "::1" in trusted
    assert "127.0.0.2" not in trusted and "192.168.1.1" not in trusted
    assert "not-an-address" not in trusted  # a Unix socket peer, say
    assert "192.168.1.1" in TrustedProxies("*")


def test_decisions_stay_right_and_few_past_the_cache_size(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(forwarded, "_CACHE_SIZE", 4)
    trusted = TrustedProxies("10.0.0.0/8")
    for _ in range(2):
        for i in range(10):
            assert f"10.0.0.{i}" in trusted
            assert f"192.168.0.{i}" not in trusted
        assert len(trusted._known) == 4  # the most recently seen peers only


def test_the_client_is_the_nearest_untrusted_hop() -> None:
    trusted = TrustedProxies("10.0.0.0/8")
    assert trusted.client("203.0.113.7, 10.0.0.2, 10.0.0.3") == "203.0.113.7"
    # A client's own claim in front of the real hop does not count.
    assert trusted.client("1.2.3.4, 203.0.113.7, 10.0.0.3") == "203.0.113.7"
    assert trusted.client("10.0.0.5, 10.0.0.6") == "10.0.0.5"


async def test_only_a_trusted_peer_is_believed() -> None:
    seen: list[dict[str, object]] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        seen.append(dict(scope))

    middleware = ForwardedHeaders(app, TrustedProxies("127.0.0.1"))  # type: ignore[arg-type]
    headers = [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-proto", b"https")]
    for peer in ("127.0.0.1", "198.51.100.1"):
        await middleware({"type": "http", "client": (peer, 5000), "scheme": "http",
                          "headers": headers}, None, None)  # type: ignore[arg-type]
    trusted, other = seen
    assert trusted["client"] == ("203.0.113.7", 0) and trusted["scheme"] == "https"
    assert trusted[TRUSTED_PROXY] is True
    assert other["client"] == ("198.51.100.1", 5000) and other["scheme"] == "http"
    assert TRUSTED_PROXY not in other


@pytest.mark.parametrize("bad", ["not-an-ip", "127.0.0.1,,nope", "10.0.0.0/33", "host.example"])
def test_the_setting_refuses_what_is_no_address(bad: str) -> None:
    with pytest.raises(ValueError, match="IP addresses or networks"):
        parse_trusted_proxies(bad)


def test_the_setting_is_cleaned_up() -> None:
    assert parse_trusted_proxies(" 127.0.0.1 , 10.0.0.0/8 ,") == "127.0.0.1,10.0.0.0/8"
    assert parse_trusted_proxies("*") == "*"


@pytest.mark.parametrize(("raw", "parsed"), [
    ("https://iot.example.com/", "https://iot.example.com"),
    ("http://10.0.0.7:8080/things/", "http://10.0.0.7:8080/things"),
])
def test_base_url(raw: str, parsed: str) -> None:
    assert parse_base_url(raw) == parsed


@pytest.mark.parametrize("bad", ["iot.example.com", "ftp://x", "https://x/?a=1",
                                 "https://u:p@x", "https://x:port"])
def test_bad_base_url(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_base_url(bad)
