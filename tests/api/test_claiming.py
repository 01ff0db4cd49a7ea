"""Claiming: the device opens a window with a secret, a customer user claims the device
(against in-process apps)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import logged_in
from tests.api_client import Api
from tests.in_process import InProcess, serving
from tests.seed import Seed, app_settings
from thingport.app import create_app


def claim(user: Api, name: str, secret: str) -> tuple[int, object]:
    response = user.http.post(f"/api/customer/device/{name}/claim", json={"secretKey": secret})
    return response.status_code, response.json()


def test_claim_with_the_right_secret(api: Api) -> None:
    device, token = api.create_device()
    name = device["name"]
    customer_id, user = api.create_customer_user()
    assert api.device_post(token, "claim", {"secretKey": "abc", "durationMs": 60000}) \
        .status_code == 200
    assert claim(user, name, "wrong") == (400, "FAILURE")
    status, body = claim(user, name, "abc")
    assert status == 200
    assert body["response"] == "SUCCESS"  # type: ignore[index]
    assert body["device"]["customerId"]["id"] == customer_id  # type: ignore[index]
    # Now the customer user sees it, and it cannot be claimed again.
    mine = user.http.get(f"/api/customer/{customer_id}/devices",
                         params={"pageSize": 10, "page": 0}).json()
    assert [d["name"] for d in mine["data"]] == [name]
    _, other = api.create_customer_user()
    api.device_post(token, "claim", {"secretKey": "abc"})
    assert claim(other, name, "abc") == (400, "CLAIMED")
    # Giving it back makes it claimable again.
    assert user.http.delete(f"/api/customer/device/{name}/claim").status_code == 200
    assert api.http.get(f"/api/device/{device['id']['id']}").json()["customerId"]["id"] \
        == "13814000-1dd2-11b2-8080-808080808080"
    api.device_post(token, "claim", {"secretKey": "again"})
    assert claim(other, name, "again")[0] == 200


def test_no_window_an_empty_secret_and_expiry(api: Api) -> None:
    device, token = api.create_device()
    _, user = api.create_customer_user()
    assert claim(user, device["name"], "") == (400, "FAILURE")
    assert api.device_post(token, "claim", b"").status_code == 200  # no body: empty secret
    assert claim(user, device["name"], "")[0] == 200

    device, token = api.create_device()
    api.device_post(token, "claim", {"secretKey": "k", "durationMs": 100})
    answered = time.time()
    # The window ends 100 ms after the server read its clock, which it did before answering:
    # sleep only until then (and a ms, the store's unit).
    time.sleep(max(0.0, answered + 0.101 - time.time()))
    assert claim(user, device["name"], "k") == (400, "FAILURE")
    assert user.http.post("/api/customer/device/no-such-device/claim",
                          json={"secretKey": "k"}).status_code == 404
    assert api.device_post(token, "claim", "[1]").status_code == 400


def test_a_second_offer_within_the_window_does_not_replace_the_first(api: Api) -> None:
    device, token = api.create_device()
    _, user = api.create_customer_user()
    api.device_post(token, "claim", {"secretKey": "first", "durationMs": 60000})
    api.device_post(token, "claim", {"secretKey": "second", "durationMs": 60000})
    assert claim(user, device["name"], "second") == (400, "FAILURE")
    assert claim(user, device["name"], "first")[0] == 200


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory, seed: Seed) -> Iterator[InProcess]:
    directory = seed.copy_to(Path(tmp_path_factory.mktemp("strict")))
    with serving(create_app(app_settings(directory, claim_allowed_by_default=False))) as app:
        yield app


def test_claiming_off_by_default_needs_the_claiming_allowed_attribute(
    strict_server: InProcess,
) -> None:
    api = logged_in(Api.over(strict_server))
    device, token = api.create_device()
    _, user = api.create_customer_user()
    api.device_post(token, "claim", {"secretKey": "s"})
    assert claim(user, device["name"], "s") == (400, "FAILURE")
    api.http.post(f"/api/plugins/telemetry/DEVICE/{device['id']['id']}/attributes/SERVER_SCOPE",
                  json={"claimingAllowed": True})
    api.device_post(token, "claim", {"secretKey": "s"})
    assert claim(user, device["name"], "s")[0] == 200


@pytest.mark.parametrize("duration", [b"1e999", b'"1e999"', b"99999999999999999999999",
                                      b"-9223372036854775809"])
def test_a_duration_beyond_a_long_is_400(api: Api, duration: bytes) -> None:
    _, token = api.create_device()
    response = api.http.post(f"/api/v1/{token}/claim",
                             content=b'{"secretKey": "s", "durationMs": ' + duration + b"}")
    assert response.status_code == 400
    assert response.json()["message"] == "durationMs is out of range"


def test_a_duration_that_ends_past_a_long_is_capped(api: Api) -> None:
    device, token = api.create_device()
    response = api.device_post(token, "claim",
                               {"secretKey": "abc", "durationMs": 9223372036854775807})
    assert response.status_code == 200
    _, user = api.create_customer_user()
    assert claim(user, device["name"], "abc")[0] == 200
