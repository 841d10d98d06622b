"""deploy/nginx/fapiao.conf against the service's settings and its client-IP rule.

nginx is not installed here and is not run: these tests read its directives (a
small parser: ``name args;`` and ``name args { ... }`` blocks) and check them
against the environment example and the code that acts on what nginx sends.
``nginx -t`` on the file is left to the operator (deploy/README.md).
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass, field

from api import create_app
from api._clientip import ClientIp
from tests.deploy.support import NGINX, env_file
from verify import Settings


@dataclass
class Block:
    name: str
    args: list[str]
    directives: list[tuple[str, list[str]]] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)

    def get(self, name: str) -> list[list[str]]:
        return [args for n, args in self.directives if n == name]

    def one(self, name: str) -> list[str]:
        (args,) = self.get(name)
        return args

    def sub(self, name: str) -> list[Block]:
        return [b for b in self.blocks if b.name == name]


def parse(text: str) -> Block:
    """nginx's grammar as far as this file uses it (no quoting of ``{;}`` in values)."""
    text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    root = Block("main", [])
    stack = [root]
    for raw in re.findall(r"[^;{}]+[;{]|}", text):
        token = raw.strip()
        if token == "}":
            assert len(stack) > 1, "unbalanced }"
            stack.pop()
            continue
        words = shlex.split(token[:-1])
        assert words, f"empty statement: {token!r}"
        if token.endswith("{"):
            block = Block(words[0], words[1:])
            stack[-1].blocks.append(block)
            stack.append(block)
        else:
            stack[-1].directives.append((words[0], words[1:]))
    rest = re.sub(r"[^;{}]+[;{]|}", "", text).strip()
    assert rest == "", f"text outside any statement: {rest!r}"
    assert len(stack) == 1, "unclosed block"
    return root


CONF = parse(NGINX.read_text())


def _tls_server() -> Block:
    (server,) = [s for s in CONF.sub("server") if any("ssl" in a for a in s.get("listen"))]
    return server


def _proxied() -> Block:
    (location,) = [b for b in _tls_server().sub("location") if b.args == ["/"]]
    return location


def test_the_proxy_connects_from_an_address_the_service_trusts() -> None:
    values, _ = env_file()
    trusted = ClientIp(Settings.from_env(values).api.trusted_proxies)
    (bind,) = _proxied().one("proxy_bind")
    assert trusted._trusted(bind)


def test_the_client_nginx_saw_is_the_one_the_service_counts_not_one_it_was_told() -> None:
    """What ``$proxy_add_x_forwarded_for`` sends (the client's own header, then the
    address nginx saw), read by the service's rule, from the proxy's address."""
    location = _proxied()
    assert ["X-Forwarded-For", "$proxy_add_x_forwarded_for"] in location.get("proxy_set_header")
    values, _ = env_file()
    trusted = ClientIp(Settings.from_env(values).api.trusted_proxies)
    (bind,) = location.one("proxy_bind")
    seen = "203.0.113.9"
    for sent_by_client in (None, "198.51.100.1", "198.51.100.1, 10.0.0.5"):
        header = f"{sent_by_client}, {seen}" if sent_by_client else seen
        assert trusted.resolve(bind, header) == seen
    # a client reaching an app host directly is counted as itself, whatever it claims
    assert trusted.resolve(seen, "198.51.100.1") == seen


def test_the_upstream_is_the_app_hosts_port_from_the_env_example() -> None:
    values, _ = env_file()
    (upstream,) = CONF.sub("upstream")
    assert _proxied().one("proxy_pass") == [f"http://{upstream.args[0]}"]
    servers = [args[0] for args in upstream.get("server")]
    assert len(servers) >= 2
    for server in servers:
        host, _, port = server.rpartition(":")
        ipaddress.ip_address(host)
        assert port == values["FAPIAO_PORT"]
    assert f"{values['FAPIAO_HOST']}:{values['FAPIAO_PORT']}" in servers
    # keepalive connections to the upstream need HTTP/1.1 without "Connection: close"
    assert upstream.get("keepalive")
    assert _proxied().one("proxy_http_version") == ["1.1"]
    assert ["Connection", ""] in _proxied().get("proxy_set_header")


def _size(value: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    value = value.lower()
    return int(value[:-1]) * units[value[-1]] if value[-1] in units else int(value)


def test_nginx_lets_through_every_upload_the_service_answers_itself() -> None:
    values, _ = env_file()
    app = create_app(Settings.from_env(values))  # built only: no lifespan, no I/O
    (limit,) = _tls_server().one("client_max_body_size")
    accepted = app.request_max_body_size
    assert isinstance(accepted, int)
    assert _size(limit) >= accepted


def test_the_internal_and_operations_paths_are_not_served_to_the_public() -> None:
    blocked = {
        tuple(b.args): b.get("return") for b in _tls_server().sub("location") if b.get("return")
    }
    assert blocked[("/internal/",)] == [["404"]]
    assert blocked[("=", "/metrics")] == [["404"]]
    assert blocked[("=", "/readyz")] == [["404"]]


def test_a_sent_post_is_never_sent_again() -> None:
    # nginx retries a non-idempotent request only when told "non_idempotent": a
    # verification counts, so a POST that reached one host must not reach another
    for args in _proxied().get("proxy_next_upstream"):
        assert "non_idempotent" not in args
