"""Adding up the /metrics pages of a server's worker processes."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from thingport.metrics_merge import merge_pages

FIRST = b"""# HELP thingport_http_requests_total Requests answered.
# TYPE thingport_http_requests_total counter
thingport_http_requests_total{api="device",status="200"} 3.0
thingport_http_requests_total{api="rest",status="401"} 1.0
# HELP thingport_open_long_polls Requests waiting now.
# TYPE thingport_open_long_polls gauge
thingport_open_long_polls{kind="rpc"} 2.0
# HELP thingport_store_largest_commit_batch The largest batch.
# TYPE thingport_store_largest_commit_batch gauge
thingport_store_largest_commit_batch 40.0
# HELP process_start_time_seconds Start time.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 100.0
# HELP thingport_store_commit_batch_size Operations per commit.
# TYPE thingport_store_commit_batch_size histogram
thingport_store_commit_batch_size_bucket{le="1.0"} 1.0
thingport_store_commit_batch_size_bucket{le="+Inf"} 2.0
thingport_store_commit_batch_size_count 2.0
thingport_store_commit_batch_size_sum 9.0
"""

SECOND = b"""# HELP thingport_http_requests_total Requests answered.
# TYPE thingport_http_requests_total counter
thingport_http_requests_total{api="device",status="200"} 4.0
# HELP thingport_open_long_polls Requests waiting now.
# TYPE thingport_open_long_polls gauge
thingport_open_long_polls{kind="rpc"} 5.0
thingport_open_long_polls{kind="attributes"} 1.0
# HELP thingport_store_largest_commit_batch The largest batch.
# TYPE thingport_store_largest_commit_batch gauge
thingport_store_largest_commit_batch 7.0
# HELP process_start_time_seconds Start time.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 90.0
"""


def values(page: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(page.decode())
            for s in family.samples}


def test_amounts_add_up_and_the_rest_take_the_largest_or_earliest() -> None:
    merged = values(merge_pages([FIRST, SECOND, b""]))
    assert merged[("thingport_http_requests_total", (("api", "device"), ("status", "200")))] == 7
    assert merged[("thingport_http_requests_total", (("api", "rest"), ("status", "401")))] == 1
    assert merged[("thingport_open_long_polls", (("kind", "rpc"),))] == 7
    assert merged[("thingport_open_long_polls", (("kind", "attributes"),))] == 1
    assert merged[("thingport_store_largest_commit_batch", ())] == 40
    assert merged[("process_start_time_seconds", ())] == 90
    assert merged[("thingport_store_commit_batch_size_count", ())] == 2
    assert merged[("thingport_store_commit_batch_size_bucket", (("le", "+Inf"),))] == 2


def test_one_page_comes_back_as_it_was() -> None:
    assert values(merge_pages([FIRST])) == values(FIRST)


def test_the_merged_page_keeps_types_and_help() -> None:
    page = merge_pages([FIRST, SECOND]).decode()
    assert "# TYPE thingport_http_requests_total counter" in page
    assert "# TYPE thingport_store_commit_batch_size histogram" in page
    assert "# HELP thingport_open_long_polls Requests waiting now." in page
