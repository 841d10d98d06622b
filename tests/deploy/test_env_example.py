"""deploy/systemd/fapiao.env.example: every name is a real setting, every setting is
documented, and the values are ones the service accepts and that agree with the
Redis/Sentinel files."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

from api._clientip import ClientIp
from api._serve import effective_workers
from api._services import RECORD_INTERVAL_S
from tests.deploy.support import (
    DEPLOY,
    REDIS_MASTER,
    REDIS_REPLICA,
    SENTINEL,
    conf_value,
    env_file,
    names_read_by_product,
)
from verify import Settings
from verify._store._clickhouse import split_url

# Read by the product but set by it, or for experiments and benchmarks only: these are
# documented in deploy/README.md ("Settings") instead of the environment file.
NOT_FOR_PRODUCTION = {
    "FAPIAO_BENCH",
    "FAPIAO_DEBUG",
    "FAPIAO_DEMO",
    "FAPIAO_DEMO_INVOICES",
    "FAPIAO_GRANIAN_LOOP",
    "FAPIAO_GRANIAN_RUNTIME",
    "FAPIAO_GRANIAN_TASK_IMPL",
    "FAPIAO_INGEST_NATIVE",
}


def test_every_name_in_the_env_example_is_read_by_the_product() -> None:
    values, commented = env_file()
    read = names_read_by_product()
    unknown = sorted((set(values) | commented) - set(read))
    assert unknown == []


def test_every_setting_the_product_reads_is_documented() -> None:
    values, commented = env_file()
    readme = (DEPLOY / "README.md").read_text()
    in_readme = set(re.findall(r"`(FAPIAO_[A-Z0-9_]+)`", readme))
    missing = {
        name: files
        for name, files in names_read_by_product().items()
        if name not in values and name not in commented and name not in in_readme
    }
    assert missing == {}


def test_the_settings_left_out_of_the_env_example_are_the_non_production_ones() -> None:
    values, commented = env_file()
    left_out = set(names_read_by_product()) - set(values) - commented
    assert left_out == NOT_FOR_PRODUCTION


def test_no_value_carries_a_comment_quotes_or_spaces() -> None:
    # systemd keeps a trailing "# ..." as part of the value
    values, _ = env_file()
    for key, value in values.items():
        assert "#" not in value, key
        assert value == value.strip("'\" \t"), key
        assert value, key


def test_the_env_example_builds_settings_for_several_workers_on_a_server() -> None:
    values, _ = env_file()
    settings = Settings.from_env(values)
    assert settings.clickhouse.url.startswith(("http://", "https://"))
    assert str(settings.data_dir) == values["FAPIAO_DATA_DIR"]
    workers = int(values["FAPIAO_WORKERS"])
    assert workers > 1
    assert effective_workers(settings, settings.api.workers) == (workers, None)
    assert ClientIp(settings.api.trusted_proxies).networks  # parses, and is not empty
    dsn, database = split_url(settings.clickhouse.url)
    assert database == "fapiao"
    assert urlsplit(dsn).username  # a named ClickHouse user, not the default one


def test_the_rules_in_the_env_example_are_the_code_defaults() -> None:
    # the example shows the defaults: a changed default must change it too
    values, _ = env_file()
    example = Settings.from_env(values)
    defaults = Settings.from_env({"FAPIAO_DATA_DIR": values["FAPIAO_DATA_DIR"]})
    assert example.limits == defaults.limits
    assert example.ocr == defaults.ocr
    assert example.timezone == defaults.timezone
    assert float(values["FAPIAO_RECORD_INTERVAL"]) == RECORD_INTERVAL_S
    assert values["FAPIAO_SERVER"] == "granian"


def _redis_url() -> tuple[str | None, list[tuple[str, int]], str, str | None]:
    url = env_file()[0]["FAPIAO_REDIS_URL"]
    parts = urlsplit(url)
    assert parts.scheme == "redis+sentinel"
    hosts = []
    for hp in parts.netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = hp.partition(":")
        hosts.append((host, int(port)))
    password = unquote(parts.password) if parts.password else None
    (name,) = [p for p in parts.path.split("/") if p]
    (sentinel_password,) = parse_qs(parts.query).get("sentinel_password", [None])
    return password, hosts, name, sentinel_password


def test_the_redis_url_password_is_the_password_of_every_redis_file() -> None:
    password, _, _, sentinel_password = _redis_url()
    assert password
    for path in (REDIS_MASTER, REDIS_REPLICA):
        assert conf_value(path, "requirepass") == [password], path.name
        assert conf_value(path, "masterauth") == [password], path.name
    assert conf_value(SENTINEL, "sentinel", "auth-pass") == ["fapiao", password]
    assert sentinel_password
    assert conf_value(SENTINEL, "requirepass") == [sentinel_password]
    assert conf_value(SENTINEL, "sentinel", "sentinel-pass") == [sentinel_password]


def test_the_redis_url_names_the_sentinels_and_the_master_they_monitor() -> None:
    _, hosts, name, _ = _redis_url()
    monitor = conf_value(SENTINEL, "sentinel", "monitor")
    assert monitor[0] == name
    master = (conf_value(REDIS_MASTER, "bind")[0], int(conf_value(REDIS_MASTER, "port")[0]))
    assert (monitor[1], int(monitor[2])) == master
    assert int(monitor[3]) == len(hosts) // 2 + 1  # a majority of the sentinels listed
    replicaof = conf_value(REDIS_REPLICA, "replicaof")
    assert (replicaof[0], int(replicaof[1])) == master
    sentinel_port = int(conf_value(SENTINEL, "port")[0])
    assert all(port == sentinel_port for _, port in hosts)
    # the file is the first sentinel's (the others change bind only)
    assert (conf_value(SENTINEL, "bind")[0], sentinel_port) == hosts[0]
    assert master[0] == hosts[0][0]  # it sits beside the first master
