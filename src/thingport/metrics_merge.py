"""One /metrics page for a server of several worker processes: each process's page, summed.

Every process counts its own requests, polls and sockets; Prometheus scrapes whichever process
the kernel hands the connection to. So that process gathers the others' pages over the bus
(``bus/ipc.py``) and adds them up: counters, gauges and histogram buckets sum; a few values
that are not amounts take the largest (or, for a start time, the earliest).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

#: Samples that are not amounts: the whole server's value is the largest of them...
LARGEST = frozenset({"thingport_store_largest_commit_batch", "process_max_fds"})
#: ...or the earliest.
EARLIEST = frozenset({"process_start_time_seconds"})


def merge_pages(pages: Iterable[bytes]) -> bytes:
    """The pages (Prometheus' text format) added up into one."""
    families: dict[str, Metric] = {}
    values: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = {}
    for page in pages:
        if not page:
            continue
        for family in text_string_to_metric_families(page.decode()):
            merged = families.setdefault(
                family.name, Metric(family.name, family.documentation, family.type))
            for sample in family.samples:
                key = (merged.name, sample.name, tuple(sorted(sample.labels.items())))
                old = values.get(key)
                if old is None:
                    values[key] = sample.value
                elif sample.name in LARGEST:
                    values[key] = max(old, sample.value)
                elif sample.name in EARLIEST or sample.name.endswith("_created"):
                    values[key] = min(old, sample.value)
                else:
                    values[key] = old + sample.value
    for (family_name, sample_name, labels), value in values.items():
        families[family_name].add_sample(sample_name, dict(labels), value)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(list(families.values())))
    return generate_latest(registry)


class _Fixed:
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)
