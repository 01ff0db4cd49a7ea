"""Prometheus metrics: what is counted, and how it becomes Prometheus' text format.

Counting happens on the device API's hot path, so a request adds only plain arithmetic on
objects made once at start: an integer increment for its status, one bisect and one increment
for its latency bucket, a float addition for the sum. There is no lock (everything runs on the
one event loop; ``prometheus_client``'s own counters take a lock per increment), no allocation
and no string formatting: labels are route templates, never a token or an id.

The standard client library, ``prometheus_client``, formats everything only when scraped,
through one custom collector (``ThingportCollector``) that also reads, at that moment, what other
parts already keep: the store's commit counters (``store.stats``), the open polls and WebSocket
sessions (``Lifecycle``), the token cache's hits and misses, and the bus counts.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from thingport.bus import Bus
    from thingport.lifecycle import Lifecycle
    from thingport.services import Services

#: Upper bounds of the latency histograms, in seconds. The top ones are for long polls, which
#: wait up to HTTP_MAX_REQUEST_TIMEOUT (300 s) by design.
LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0, 60.0, 300.0,
)  # fmt: skip
#: Methods counted under their own name; any other is counted as "OTHER" (a client can send
#: any token as a method, and each would become a time series).
KNOWN_METHODS: Final = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})
#: The route label of a request that matched no route (its path is not a label: unbounded).
UNMATCHED: Final = "unmatched"


def method_label(method: str) -> str:
    """``method``, or "OTHER" for one outside KNOWN_METHODS."""
    return method if method in KNOWN_METHODS else "OTHER"


class RequestSeries:
    """The requests of one API, route template and method: how many per status, and how
    long they took."""

    __slots__ = ("api", "buckets", "method", "route", "statuses", "sum_seconds")

    def __init__(self, api: str, route: str, method: str) -> None:
        self.api = api
        self.route = route
        self.method = method
        self.statuses: dict[int, int] = {}
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.sum_seconds = 0.0

    def observe(self, status: int, seconds: float) -> None:
        """Count one request answered with ``status`` after ``seconds``."""
        statuses = self.statuses
        statuses[status] = statuses.get(status, 0) + 1
        self.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.sum_seconds += seconds


class Metrics:
    """Everything counted as it happens; one per app."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str], RequestSeries] = {}
        #: Bus messages this node published, and those it received (handed to its waiters).
        self.bus_published = 0
        self.bus_received = 0
        #: Requests refused by a rate limit, by limit ("provisioning").
        self.rate_limited: dict[str, int] = {}

    def series(self, api: str, route: str, method: str) -> RequestSeries:
        """The series of ``api`` ("device" or "rest"), a route template and a method; made on
        first use and kept, so the hot path can hold it."""
        key = (api, route, method)
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = RequestSeries(api, route, method)
        return found

    def all_series(self) -> list[RequestSeries]:
        """Every series made so far."""
        return list(self._series.values())

    def refused(self, limit: str) -> None:
        """Count a request refused by the rate limit ``limit``."""
        self.rate_limited[limit] = self.rate_limited.get(limit, 0) + 1


def count_bus_messages(bus: Bus, metrics: Metrics) -> None:
    """Count what ``bus`` publishes and what it hands to this node's subscribers. The bus
    keeps no counts of its own, so its two entry points are wrapped on this instance: one call
    and one increment per message, and the bus's own code stays as it is."""
    publish = bus.publish
    fan_out = bus.local.fan_out

    async def counted_publish(channel: str, message: bytes = b"") -> None:
        metrics.bus_published += 1
        await publish(channel, message)

    def counted_fan_out(channel: str, message: bytes) -> None:
        metrics.bus_received += 1
        fan_out(channel, message)

    setattr(bus, "publish", counted_publish)  # noqa: B010 - an instance attribute on purpose
    setattr(bus.local, "fan_out", counted_fan_out)  # noqa: B010


class ThingportCollector(Collector):
    """Builds every thingport metric family at scrape time."""

    def __init__(self, metrics: Metrics, lifecycle: Lifecycle, services: Services) -> None:
        self._metrics = metrics
        self._lifecycle = lifecycle
        self._services = services

    def collect(self) -> Iterable[Metric]:
        """The metric families, read now."""
        yield from self._requests()
        yield from self._store()
        yield from self._waiting()
        yield from self._counters()

    def _requests(self) -> Iterator[Metric]:
        labels = ["api", "route", "method"]
        requests = CounterMetricFamily(
            "thingport_http_requests", "HTTP requests answered, by API, route template, "
            "method and status.", labels=[*labels, "status"])
        latency = HistogramMetricFamily(
            "thingport_http_request_duration_seconds", "Time from a request's arrival to its "
            "answer (long polls included: they wait by design).", labels=labels)
        for series in self._metrics.all_series():
            names = [series.api, series.route, series.method]
            for status, count in sorted(series.statuses.items()):
                requests.add_metric([*names, str(status)], count)
            cumulative, buckets = 0, []
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), series.buckets,
                                    strict=True):
                cumulative += count
                buckets.append((_le(bound), cumulative))
            latency.add_metric(names, buckets, series.sum_seconds)
        yield requests
        yield latency

    def _store(self) -> Iterator[Metric]:
        stats: Any = getattr(self._services.store, "stats", None)
        if stats is None:
            return
        yield CounterMetricFamily(
            "thingport_store_commits", "Write transactions committed (group commit: each holds "
            "a batch of queued writes).", value=stats.transactions)
        yield CounterMetricFamily(
            "thingport_store_committed_operations", "Write operations committed; divided by "
            "thingport_store_commits_total, the mean commit batch size.", value=stats.operations)
        yield GaugeMetricFamily(
            "thingport_store_largest_commit_batch", "The most write operations one commit has "
            "held since start.", value=stats.largest_batch)
        retries = getattr(stats, "retries", None)
        if retries is not None:
            yield CounterMetricFamily(
                "thingport_store_commit_retries", "Commits retried.", value=retries)
        for name, attribute, text in _STORE_HISTOGRAMS:
            histogram = getattr(stats, attribute, None)
            if histogram is not None:
                family = HistogramMetricFamily(name, text)
                family.add_metric([], [(_le(bound), n) for bound, n in histogram.cumulative()],
                                  histogram.total)
                yield family

    def _waiting(self) -> Iterator[Metric]:
        polls = GaugeMetricFamily(
            "thingport_open_long_polls", "Requests waiting: device rpc and attributes/updates "
            "polls, client-side RPCs, applications' polls and two-way RPCs.", labels=["kind"])
        for kind, count in sorted(self._lifecycle.waiting.items()):
            polls.add_metric([kind], count)
        yield polls
        yield GaugeMetricFamily("thingport_open_websockets", "Open WebSocket sessions.",
                                value=self._lifecycle.sessions)

    def _counters(self) -> Iterator[Metric]:
        metrics, devices = self._metrics, self._services.devices
        yield CounterMetricFamily("thingport_bus_messages_published", "Bus messages this node "
                                  "published.", value=metrics.bus_published)
        yield CounterMetricFamily("thingport_bus_messages_received", "Bus messages this node "
                                  "received and handed to its waiters.",
                                  value=metrics.bus_received)
        cache = CounterMetricFamily("thingport_token_cache_lookups", "Device token lookups, "
                                    "answered from the cache (hit) or the store (miss).",
                                    labels=["result"])
        cache.add_metric(["hit"], getattr(devices, "cache_hits", 0))
        cache.add_metric(["miss"], getattr(devices, "cache_misses", 0))
        yield cache
        refused = CounterMetricFamily("thingport_rate_limited_requests", "Requests refused "
                                      "with 429 by a rate limit.", labels=["limit"])
        for limit, count in sorted(metrics.rate_limited.items()):
            refused.add_metric([limit], count)
        yield refused


#: (metric, attribute of the store's stats, help): the stores' fixed-bucket histograms.
_STORE_HISTOGRAMS: Final = (
    ("thingport_store_commit_batch_size", "batch_sizes",
     "Write operations per committed transaction (group commit)."),
    ("thingport_store_commit_duration_seconds", "commit_seconds",
     "Seconds each committed transaction held the writer (SQLite) or a write lane "
     "(PostgreSQL), from its first statement to the end of COMMIT."),
    ("thingport_store_merge_duration_seconds", "merge_seconds",
     "Seconds of each merge of SQLite's sample log into the history table."),
    ("thingport_store_upload_duration_seconds", "upload_seconds",
     "Seconds of each transaction of a PostgreSQL save too large for a lane."),
)


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


#: What worker processes ask each other for their /metrics pages (``bus/ipc.py``).
METRICS_TOPIC = "metrics"


def registry(metrics: Metrics, lifecycle: Lifecycle, services: Services) -> CollectorRegistry:
    """A registry of this app's metrics and the process's own (memory, CPU, open files). With
    several worker processes, each answers the others' requests for its page."""
    from prometheus_client import ProcessCollector, generate_latest

    result = CollectorRegistry(auto_describe=False)
    result.register(ThingportCollector(metrics, lifecycle, services))
    ProcessCollector(registry=result)
    answer = getattr(services.bus, "answer", None)
    if answer is not None:
        answer(METRICS_TOPIC, lambda: generate_latest(result))
    return result
