"""Helpers of the deploy tests: read the files of deploy/ the way their programs do.

The files are the ones an operator installs; the tests read them as systemd, nginx,
redis-server and the service read them (as far as that can be done without those
programs), rewriting only what must differ on a test machine (addresses, ports,
directories) and asserting that each rewritten line was there.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
UNIT = DEPLOY / "systemd" / "fapiao.service"
ENV_EXAMPLE = DEPLOY / "systemd" / "fapiao.env.example"
NGINX = DEPLOY / "nginx" / "fapiao.conf"
REDIS_MASTER = DEPLOY / "redis" / "redis-master.conf"
REDIS_REPLICA = DEPLOY / "redis" / "redis-replica.conf"
SENTINEL = DEPLOY / "redis" / "sentinel.conf"
PRODUCT_PACKAGES = ("api", "verify", "ingest", "ocr")

_NAME = re.compile(r"FAPIAO_[A-Z0-9_]+")


def env_file(path: Path = ENV_EXAMPLE) -> tuple[dict[str, str], set[str]]:
    """(variables set, names only shown commented out as ``#FAPIAO_X=...``), read as
    systemd reads an ``EnvironmentFile=`` (KEY=VALUE lines; ``#``/``;`` lines are comments)."""
    values: dict[str, str] = {}
    commented: set[str] = set()
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line:
            continue
        if line[0] in "#;":
            m = re.match(r"[#;]\s*(FAPIAO_[A-Z0-9_]+)=", line)
            if m:
                commented.add(m.group(1))
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not KEY=VALUE: {raw!r}"
        assert key not in values, f"{key} set twice"
        values[key.strip()] = value.strip()
    return values, commented


def names_read_by_product() -> dict[str, list[str]]:
    """Every ``FAPIAO_*`` name in the product's code, with the files that name it."""
    found: dict[str, list[str]] = {}
    for package in PRODUCT_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for name in set(_NAME.findall(path.read_text(encoding="utf-8"))):
                found.setdefault(name, []).append(str(path.relative_to(REPO)))
    return found


def unit_sections(path: Path = UNIT) -> dict[str, list[tuple[str, str]]]:
    """The unit's ``[Section]`` -> [(key, value)] (keys may repeat, as systemd allows)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections.setdefault(current, [])
            continue
        assert current is not None, f"a key before any section: {raw!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not Key=Value: {raw!r}"
        sections[current].append((key.strip(), value.strip()))
    return sections


def unit_value(key: str, section: str = "Service") -> str:
    values = [v for k, v in unit_sections()[section] if k == key]
    assert len(values) == 1, f"{key} in [{section}]: {values}"
    return values[0]


def command_argv(value: str) -> list[str]:
    """An ``Exec*=`` value as argv (systemd's quoting, for the plain cases used here:
    no ``%`` specifiers, no ``$`` expansion, no ``;`` separators, no prefixes)."""
    assert "%" not in value, "a % specifier: systemd would expand it"
    assert "$" not in value, "$ expansion in a command line"
    argv = shlex.split(value)
    assert ";" not in argv, "a command separator"
    assert not argv[0].startswith(("-", "@", "+", "!", ":")), "a command prefix"
    return argv


def conf_directives(text: str) -> list[list[str]]:
    """Redis/Sentinel config lines as argument lists (comments and blanks left out)."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            out.append(shlex.split(line))
    return out


def conf_value(path: Path, *key: str) -> list[str]:
    """The arguments after ``key`` (one or more words) of the one line that starts so."""
    hits = [d[len(key) :] for d in conf_directives(path.read_text()) if tuple(d[: len(key)]) == key]
    assert len(hits) == 1, f"{' '.join(key)} in {path.name}: {hits}"
    return hits[0]


def rewrite(text: str, replacements: dict[tuple[str, ...], str]) -> str:
    """Replace the whole line of each directive (matched by its first words); every
    directive named must be in the text exactly once."""
    lines = text.splitlines()
    for key, new in replacements.items():
        at = [
            i
            for i, raw in enumerate(lines)
            if raw.strip()
            and not raw.strip().startswith("#")
            and tuple(shlex.split(raw)[: len(key)]) == key
        ]
        assert len(at) == 1, f"{' '.join(key)}: {len(at)} lines"
        lines[at[0]] = new
    return "\n".join(lines) + "\n"
