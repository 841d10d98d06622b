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
        self._hits = 0
        self._lookups = 0
        self._route_children: dict[tuple[str, str, int], object] = {}

    def lookup(self, how: str) -> None:
        self.lookups.labels(how).inc()
        self._lookups += 1
        if how != "miss":
            self._hits += 1
        self.hit_ratio.set(self._hits / self._lookups)

    def store_seconds(self, seconds: float) -> None:
        self.store_latency.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
