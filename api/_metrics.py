"""Prometheus metrics, one registry per app (tests build many apps in one process).

With one worker (the default, and the only choice with embedded chDB) ``/metrics``
renders the app's own registry. With ``--workers N`` (N > 1) each worker keeps the same
in-process registry (the hot path is unchanged) and publishes it to the host's shared
directory (``metrics_dir``: under the data directory, emptied by ``fapiao serve`` before
its workers start) in prometheus_client's multiprocess file format: one mmap file per
worker and metric type, named by its pid. A scrape, whichever worker answers it, merges
every file with ``MultiProcessCollector.merge``, so it reports the whole host:

- counters and histograms are summed over the workers, those that exited included (their
  files stay: a restarted worker does not make a counter go down);
- ``fapiao_recorder_pending`` is the sum and ``fapiao_cache_degraded`` the max over the
  live workers (``livesum`` / ``livemax`` files, dropped by a worker on a clean exit and
  by the scrape when their pid no longer runs: ``multiprocess.mark_process_dead``);
- ``fapiao_cache_hit_ratio`` is computed from the summed lookups and
  ``fapiao_cache_batch_size`` from the summed batch totals.

A worker publishes once a second (``api._ops.publish_metrics``), when it answers a scrape,
and on shutdown; another worker's figures in a scrape are therefore up to about a second
old, and a worker killed without a shutdown loses its last second. Files are named by pid:
one ``Metrics`` with a directory per process (one app per worker).

prometheus_client's own multiprocess switch (``PROMETHEUS_MULTIPROC_DIR``) is not used: it
is process-global, chosen when prometheus_client is imported (granian forks its workers
from a parent that has imported it already, so a variable set by ``fapiao serve`` would not
reach them), and it writes an mmap file on every ``inc``/``observe`` of every metric in the
process (~1.9 µs more per verification than the plain registry, measured 2026-11-24).
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from verify._pipeline import Observer

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

# Derived on the scrape from the host's sums, never published per worker
_HIT_RATIO = "fapiao_cache_hit_ratio"
_BATCH_SIZE = "fapiao_cache_batch_size"
_HIT_RATIO_HELP = "Cache hits / lookups"
_BATCH_SIZE_HELP = "Verifications per Redis round trip (mean)"
# A worker's batch totals, published so the host's mean can be computed; not exported
_BATCH_ITEMS = "fapiao_internal_batch_items"
_BATCH_TRIPS = "fapiao_internal_batch_trips"
# How the live workers' gauges combine: file prefix per gauge
_GAUGE_MODES = {
    "fapiao_cache_degraded": "gauge_livemax",
    "fapiao_recorder_pending": "gauge_livesum",
}


def metrics_dir(data_dir: Path, workers: int) -> Path | None:
    """The host's shared metrics directory, or None with one worker (the default).

    ``fapiao serve`` empties it and exports ``FAPIAO_DATA_DIR`` and the number of workers
    it runs (``FAPIAO_WORKERS``) to its workers, from which they find it.
    """
    if workers <= 1:
        return None
    return data_dir.resolve() / "metrics"


def reset_metrics_dir(path: Path) -> None:
    """Empty ``path`` (the serving parent, before its workers start): a new service's
    counters start from zero, not from the last run's files."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)


class Metrics(Observer):
    def __init__(self, shared_dir: Path | None = None) -> None:
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
        self.hit_ratio = Gauge(_HIT_RATIO, _HIT_RATIO_HELP, registry=r)
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
        self.batch_size = Gauge(_BATCH_SIZE, _BATCH_SIZE_HELP, registry=r)
        self._hits = 0
        self._lookups = 0
        self.hit_ratio.set_function(self._hit_ratio)  # computed when scraped, not per lookup
        # labels() costs microseconds per call: children are looked up once and kept
        self._children: dict[tuple[object, ...], object] = {}
        # Per-verification counts are plain ints, folded into the counters when
        # scraped (a Prometheus child's inc() takes a lock: ~1 µs each on the hot path).
        self._results: dict[tuple[str, str], int] = {}
        self._lookups_by: dict[str, int] = {}
        self.batch_totals = (0, 0)
        """(verifications, Redis round trips) of this worker's batcher, set when sampled."""
        self.shared = _SharedFiles(shared_dir) if shared_dir is not None else None

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

    def publish(self) -> None:
        """Write this worker's figures to the shared directory (several workers only)."""
        if self.shared is None:
            return
        self._fold()
        self.shared.write(self.registry.collect(), self.batch_totals)

    def close(self) -> None:
        """A clean exit: the counters published a last time, the live gauges dropped."""
        if self.shared is None:
            return
        self.publish()
        self.shared.close()

    def render(self) -> bytes:
        if self.shared is None:
            self._fold()
            return generate_latest(self.registry)
        self.publish()
        return generate_latest(self.shared.host_registry)


class _SharedFiles:
    """One worker's files in the host's directory, and the host's merged view."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pid = 0
        self._files: dict[str, MmapedDict] = {}
        self._written: dict[tuple[str, ...], list[Any]] = {}  # ident -> [key, value]
        self.host_registry = CollectorRegistry(auto_describe=False)
        self.host_registry.register(_HostCollector(path))

    def _put(
        self,
        prefix: str,
        family: tuple[str, str],
        sample: str,
        labels: dict[str, str],
        value: float,
    ) -> None:
        """One value into this process's file of ``prefix``; unchanged values are skipped
        and keys built once (a JSON dump each)."""
        ident = (prefix, sample, *labels.values())
        known = self._written.get(ident)
        if known is None:
            known = self._written[ident] = [_key(*family, sample, labels), None]
        elif known[1] == value:
            return
        file = self._files.get(prefix)
        if file is None:
            name = str(self.path / f"{prefix}_{self._pid}.db")
            file = self._files[prefix] = MmapedDict(name)  # type: ignore[no-untyped-call]
        file.write_value(known[0], value, 0.0)  # type: ignore[no-untyped-call]
        known[1] = value

    def write(self, families: Iterable[Metric], batch_totals: tuple[int, int]) -> None:
        pid = os.getpid()
        if pid != self._pid:  # first write, or a fork: this process's own files
            self._close_files()
            self._written.clear()
            self._pid = pid
            self.path.mkdir(parents=True, exist_ok=True)
        put = self._put
        for family in families:
            name = family.name
            described = (name, family.documentation)
            if family.type == "counter":
                for s in family.samples:
                    if s.name.endswith("_total"):
                        put("counter", described, s.name, s.labels, s.value)
            elif family.type == "histogram":
                self._write_histogram(family)
            elif name in _GAUGE_MODES:
                for s in family.samples:
                    put(_GAUGE_MODES[name], described, s.name, s.labels, s.value)
        items, trips = batch_totals
        for metric, value in ((_BATCH_ITEMS, items), (_BATCH_TRIPS, trips)):
            put("counter", (metric, metric), metric + "_total", {}, float(value))

    def _write_histogram(self, family: Metric) -> None:
        """Buckets as the multiprocess files keep them: per bucket, not cumulative (a
        series' buckets come in order, ``le`` its last label)."""
        described, put = (family.name, family.documentation), self._put
        series: tuple[str, ...] = ()
        below = 0.0
        for s in family.samples:
            if s.name.endswith("_bucket"):
                labels = tuple(s.labels.values())[:-1]
                if labels != series:
                    series, below = labels, 0.0
                put("histogram", described, s.name, s.labels, s.value - below)
                below = s.value
            elif s.name.endswith("_sum"):
                put("histogram", described, s.name, s.labels, s.value)

    def _close_files(self) -> None:
        for file in self._files.values():
            file.close()  # type: ignore[no-untyped-call]
        self._files.clear()

    def close(self) -> None:
        self._close_files()
        if self._pid:
            mark_process_dead(self._pid, str(self.path))  # type: ignore[no-untyped-call]


def _key(metric: str, doc: str, sample: str, labels: dict[str, str]) -> str:
    return str(mmap_key(metric, sample, list(labels), list(labels.values()), doc))


def _pid_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _HostCollector:
    """Every worker's files merged: the host's figures, derived gauges computed here."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _drop_dead_gauges(self) -> None:
        for file in glob.glob(os.path.join(self.path, "gauge_live*_*.db")):
            pid = os.path.basename(file)[:-3].rsplit("_", 1)[1]
            if pid.isdigit() and not _pid_runs(int(pid)):
                mark_process_dead(int(pid), str(self.path))  # type: ignore[no-untyped-call]

    def collect(self) -> Iterator[Metric]:
        self._drop_dead_gauges()
        files = glob.glob(os.path.join(self.path, "*.db"))
        hits = lookups = 0.0
        totals = {_BATCH_ITEMS: 0.0, _BATCH_TRIPS: 0.0}
        merged = MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call]
        for family in merged:
            if family.name in totals:
                totals[family.name] = sum(s.value for s in family.samples)
                continue
            if family.name == "fapiao_cache_lookups":
                for s in family.samples:
                    lookups += s.value
                    if s.labels.get("how") != "miss":
                        hits += s.value
            yield family
        ratio = hits / lookups if lookups else 0.0
        yield GaugeMetricFamily(_HIT_RATIO, _HIT_RATIO_HELP, value=ratio)
        items, trips = totals[_BATCH_ITEMS], totals[_BATCH_TRIPS]
        size = items / trips if trips else 0.0
        yield GaugeMetricFamily(_BATCH_SIZE, _BATCH_SIZE_HELP, value=size)
