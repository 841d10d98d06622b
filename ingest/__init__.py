"""ingest: how data gets into the registry, and the synthetic data to try it with.

- :func:`ingest_paths` validates NDJSON/CSV(.gz) files with the verify core and loads
  them through a sink: a :class:`Loader` on the store, or a running service
  (:class:`ServiceSink`, found with :func:`find_service`); idempotent, kill-safe.
- :func:`claim_data_dir` is held by the serving process (chDB admits one process).
- :func:`generate` / :func:`iter_invoices_and_events` / :func:`qr_line` make data
  (ingest/_generate.py). The import format: docs/import-format.md.
"""

from ingest._generate import GenerateSummary, generate, iter_invoices_and_events, qr_line
from ingest._handoff import (
    DataDirBusyError,
    ServiceHandle,
    ServiceSink,
    claim_data_dir,
    find_service,
)
from ingest._loader import BatchResult, Loader
from ingest._records import RowError, parse_event, parse_invoice
from ingest._run import FileSummary, ingest_paths
from ingest._status import fold_status

__all__ = [
    "BatchResult",
    "DataDirBusyError",
    "FileSummary",
    "GenerateSummary",
    "Loader",
    "RowError",
    "ServiceHandle",
    "ServiceSink",
    "claim_data_dir",
    "find_service",
    "fold_status",
    "generate",
    "ingest_paths",
    "iter_invoices_and_events",
    "parse_event",
    "parse_invoice",
    "qr_line",
]
