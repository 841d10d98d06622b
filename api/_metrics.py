"""Prometheus metrics, one registry per app (tests build many apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from verify._pipeline import Observer

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics(Observer):
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "fapiao_http_requests", "HTTP requests", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "fapiao_http_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.results = Counter(
            "fapiao_verify_results", "Verification results by code", ["code", "channel"], registry=r
        )
        self.lookups = Counter(
            "fapiao_cache_lookups", "Invoice lookups by how they were served", ["how"], registry=r
        )
        self.hit_ratio = Gauge("fapiao_cache_hit_ratio", "Cache hits / lookups", registry=r)
        self.store_latency = Histogram(
            "fapiao_store_lookup_seconds",
            "Store load latency",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.cache_state = Gauge(
            "fapiao_cache_degraded", "1 while Redis is away (verifying from the store)", registry=r
        )
        self.recorder_pending = Gauge(
            "fapiao_recorder_pending", "Verification events not yet written", registry=r
        )
        self.batch_size = Gauge(
            "fapiao_cache_batch_size", "Verifications per Redis round trip (mean)", registry=r
        )
        self._hits = 0
        self._lookups = 0
        self.hit_ratio.set_function(self._hit_ratio)  # computed when scraped, not per lookup
        # labels() costs microseconds per call: children are looked up once and kept
        self._children: dict[tuple[object, ...], object] = {}
        # Per-verification counts are plain ints, folded into the counters when
        # scraped (a Prometheus child's inc() takes a lock: ~1 µs each on the hot path).
        self._results: dict[tuple[str, str], int] = {}
        self._lookups_by: dict[str, int] = {}

    def child(self, metric: object, *labels: str) -> object:
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)  # type: ignore[attr-defined]
        return found

    def result(self, code: str, channel: str) -> None:
        key = (code, channel)
        self._results[key] = self._results.get(key, 0) + 1

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.child(self.latency, route).observe(seconds)  # type: ignore[attr-defined]
        self.child(self.requests, route, method, str(status)).inc()  # type: ignore[attr-defined]

    def lookup(self, how: str) -> None:
        self._lookups_by[how] = self._lookups_by.get(how, 0) + 1
        self._lookups += 1
        if how != "miss":
            self._hits += 1

    def _hit_ratio(self) -> float:
        return self._hits / self._lookups if self._lookups else 0.0

    def store_seconds(self, seconds: float) -> None:
        self.store_latency.observe(seconds)

    def _fold(self) -> None:
        """Move the plain per-verification counts into their Prometheus counters."""
        results, self._results = self._results, {}
        for (code, channel), n in results.items():
            self.child(self.results, code, channel).inc(n)  # type: ignore[attr-defined]
        lookups, self._lookups_by = self._lookups_by, {}
        for how, n in lookups.items():
            self.child(self.lookups, how).inc(n)  # type: ignore[attr-defined]

    def render(self) -> bytes:
        self._fold()
        return generate_latest(self.registry)
