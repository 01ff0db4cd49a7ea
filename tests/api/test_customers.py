"""Customers and customer users: a customer user sees only its customer's devices (against an
in-process app)."""

from __future__ import annotations

from tests.api_client import Api


def test_customer_lifecycle_and_visibility(api: Api) -> None:
    customer_id, user = api.create_customer_user()
    mine, _ = api.create_device()
    theirs, _ = api.create_device()
    assigned = api.http.post(f"/api/customer/{customer_id}/device/{mine['id']['id']}")
    assert assigned.status_code == 200
    assert assigned.json()["customerId"]["id"] == customer_id

    assert user.http.get(f"/api/device/{mine['id']['id']}").status_code == 200
    assert user.http.get(f"/api/device/{theirs['id']['id']}").status_code == 404
    assert user.http.get(
        f"/api/plugins/telemetry/DEVICE/{theirs['id']['id']}/values/timeseries"
    ).status_code == 404
    listed = user.http.get(f"/api/customer/{customer_id}/devices",
                           params={"pageSize": 10, "page": 0}).json()
    assert [d["id"]["id"] for d in listed["data"]] == [mine["id"]["id"]]
    # Customer users do not manage devices or other customers.
    assert user.http.post("/api/device", json={"name": "nope"}).status_code == 403
    assert user.http.get("/api/customers", params={"pageSize": 10, "page": 0}).status_code == 403

    customers = api.http.get("/api/customers", params={"pageSize": 100, "page": 0}).json()
    assert customer_id in {c["id"]["id"] for c in customers["data"]}
    users = api.http.get(f"/api/customer/{customer_id}/users",
                         params={"pageSize": 10, "page": 0}).json()
    assert [u["authority"] for u in users["data"]] == ["CUSTOMER_USER"]

    unassigned = api.http.delete(f"/api/customer/device/{mine['id']['id']}")
    assert unassigned.status_code == 200
    assert user.http.get(f"/api/device/{mine['id']['id']}").status_code == 404

    api.http.post(f"/api/customer/{customer_id}/device/{mine['id']['id']}")
    assert api.http.delete(f"/api/customer/{customer_id}").status_code == 200
    assert api.http.get(f"/api/customer/{customer_id}").status_code == 404
    assert api.http.get(f"/api/device/{mine['id']['id']}").json()["customerId"]["id"] == \
        "13814000-1dd2-11b2-8080-808080808080"


def test_customer_titles_are_unique_and_required(api: Api) -> None:
    customer_id, _ = api.create_customer_user()
    title = api.http.get(f"/api/customer/{customer_id}").json()["title"]
    assert api.http.post("/api/customer", json={"title": title}).status_code == 400
    assert api.http.post("/api/customer", json={}).status_code == 400
