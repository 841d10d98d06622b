"""The public verify API over HTTP (Litestar's test client; real Redis and chDB)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from tests.api.support import days_ago, digital, ordinary, qr_of, special

QR = qr_of(ordinary())


async def test_post_qr_returns_the_full_invoice(make_client: Any, store: Any) -> None:
    store.insert_invoices([ordinary()])
    async with make_client() as client:
        r = await client.post("/api/v1/verify", json={"qr": QR})
    assert r.status_code == 200
    body = r.json()
    assert body["code"] == "001"
    assert body["status"] == "normal"
    assert body["status_label"] == "正常"
    assert body["verify_count"] == 1
    assert body["error"] is None
    inv = body["invoice"]
    assert inv["check_code"] == "17884534745749991611"
    assert inv["total"] == "196.38"
    assert inv["seller"]["name"] == "福州示例贸易有限公司"
    assert inv["items"][0]["tax_rate"] == "0.13"
    assert set(body) == {
        "code", "message", "message_en", "status", "status_label", "verify_count", "invoice",
        "flow", "error",
    }  # fmt: skip
    assert r.headers["x-request-id"]


async def test_startup_objects_are_frozen_while_serving_and_released_after(
    make_client: Any, store: Any
) -> None:
    """The app, clients and store built at startup sit out of the collector's full
    passes while serving (each used to walk them: ~80 ms about once a second under
    load); shutdown gives them back, and verifying works unchanged meanwhile."""
    store.insert_invoices([ordinary()])
    assert gc.get_freeze_count() == 0
    async with make_client() as client:
        frozen = gc.get_freeze_count()
        r = await client.post("/api/v1/verify", json={"qr": QR})
        gc.collect()
        again = await client.post("/api/v1/verify", json={"qr": QR})
    assert frozen > 10_000
    assert gc.get_freeze_count() == 0
    assert (r.json()["code"], r.json()["verify_count"]) == ("001", 1)
    assert (again.json()["code"], again.json()["verify_count"]) == ("001", 2)


async def test_get_with_query_parameters_so_a_link_can_carry_it(
    make_client: Any, store: Any
) -> None:
    inv = special()
    store.insert_invoices([inv])
    params = {
        "code": inv.code,
        "number": inv.number,
        "date": inv.issue_date.isoformat(),
        "amount": "94339.62",
    }
    async with make_client() as client:
        r = await client.get("/api/v1/verify", params=params)
        r2 = await client.get("/api/v1/verify", params={"qr": qr_of(inv)})
    assert (r.status_code, r.json()["code"]) == (200, "001")
    assert r2.json()["verify_count"] == 2


async def test_numbers_are_accepted_for_money(make_client: Any, store: Any) -> None:
    store.insert_invoices([digital()])
    payload = {
        "number": digital().number,
        "date": digital().issue_date.isoformat(),
        "total": 100.76,
    }
    async with make_client() as client:
        r = await client.post("/api/v1/verify", json=payload)
    assert r.json()["code"] == "001"


async def test_every_result_code_with_its_http_status(make_client: Any, store: Any) -> None:
    store.insert_invoices([ordinary(), digital(issue=days_ago(0))])
    async with make_client(FAPIAO_SAME_DAY="0", FAPIAO_RATE_LIMIT_PER_IP="9") as client:
        seen = {}
        r = await client.post("/api/v1/verify", json={"qr": qr_of(ordinary(), check="1" * 20)})
        seen["006"] = r
        for _ in range(4):
            seen["001"] = await client.post("/api/v1/verify", json={"qr": QR})
        seen["002"] = await client.post("/api/v1/verify", json={"qr": QR})
        seen["009"] = await client.post("/api/v1/verify", json={"qr": qr_of(special())})
        seen["005"] = await client.post("/api/v1/verify", json={"qr": "01,99,x"})
        seen["rqerr"] = await client.post(
            "/api/v1/verify", json={"qr": qr_of(digital(issue=days_ago(0)))}
        )
        seen["003"] = await client.post("/api/v1/verify", json={"qr": QR})
    statuses = {code: (r.status_code, r.json()["code"]) for code, r in seen.items()}
    assert statuses == {
        "006": (200, "006"),
        "001": (200, "001"),
        "002": (429, "002"),
        "009": (404, "009"),
        "005": (400, "005"),
        "rqerr": (425, "rqerr"),
        "003": (429, "003"),
    }
    for code in ("006", "009", "005", "002"):
        body = seen[code].json()
        assert body["invoice"] is None
        assert body["status"] is None
        assert body["verify_count"] is None
    assert seen["005"].json()["error"]["code"] == "payload_field_count"
    limited = seen["003"]
    assert limited.headers["retry-after"] == limited.headers["ratelimit-reset"]
    assert limited.headers["ratelimit-limit"] == "9"
    assert limited.headers["ratelimit-remaining"] == "0"


async def test_store_down_is_503_015(make_client: Any, store: Any) -> None:
    async with make_client() as client:
        store._client.command(f"DROP DATABASE {store.database}")
        r = await client.post("/api/v1/verify", json={"qr": QR})
    assert (r.status_code, r.json()["code"], r.json()["error"]["code"]) == (
        503,
        "015",
        "store_error",
    )


async def test_bad_bodies_get_4xx_with_codes_never_500(make_client: Any) -> None:
    async with make_client() as client:
        cases = {
            "invalid_json": await client.post(
                "/api/v1/verify", content=b"{nope", headers={"content-type": "application/json"}
            ),
            "invalid_encoding": await client.post(
                "/api/v1/verify",
                content=b'{"qr": "\xff\xfe"}',
                headers={"content-type": "application/json"},
            ),
            "invalid_body": await client.post("/api/v1/verify", json={"qr": ["a list"]}),
            "body_too_large": await client.post(
                "/api/v1/verify", content=b'{"qr": "' + b"1" * 200_000 + b'"}'
            ),
            "query_missing": await client.post("/api/v1/verify", json={}),
            "payload_too_long": await client.post("/api/v1/verify", json={"qr": "1," * 300}),
            "not_found": await client.get("/api/v1/nothing-here"),
            "method_not_allowed": await client.delete("/api/v1/verify"),
        }
    for code, r in cases.items():
        assert 400 <= r.status_code < 500, (code, r.status_code, r.text)
        assert r.json()["error"]["code"] == code, (code, r.text)
    assert cases["body_too_large"].status_code == 413


async def test_wrong_content_type_is_a_4xx(make_client: Any) -> None:
    async with make_client() as client:
        r = await client.post(
            "/api/v1/verify", content=b"qr=1", headers={"content-type": "text/plain"}
        )
    assert 400 <= r.status_code < 500
    assert r.json()["code"] == "005"


async def test_rate_limit_uses_forwarded_for_only_from_trusted_proxies(
    make_client: Any, store: Any
) -> None:
    async with make_client(FAPIAO_RATE_LIMIT_PER_IP="2") as client:
        spoofed = [
            await client.post(
                "/api/v1/verify", json={"qr": QR}, headers={"x-forwarded-for": f"9.9.9.{i}"}
            )
            for i in range(3)
        ]
    assert [r.json()["code"] for r in spoofed] == ["009", "009", "003"]
    from api._clientip import ClientIp

    with pytest.raises(ValueError, match="FAPIAO_TRUSTED_PROXIES"):
        ClientIp(["10.0.0.0/8", "proxy.example"])

    ips = ClientIp(["10.0.0.0/8"])
    assert ips.resolve("10.1.1.1", "203.0.113.9, 10.2.2.2") == "203.0.113.9"
    assert ips.resolve("198.51.100.1", "203.0.113.9") == "198.51.100.1"
    assert ips.resolve("10.1.1.1", "not-an-ip") == "10.1.1.1"


def test_the_edge_resolves_the_caller_as_client_ip_rules_say() -> None:
    from api._clientip import ClientIp
    from api._edge import Edge

    def scope(peer: str | None, *headers: tuple[bytes, bytes]) -> dict[str, Any]:
        return {"headers": list(headers), "client": (peer, 1) if peer else None}

    fwd = (b"x-forwarded-for", b"203.0.113.9, 10.2.2.2")
    web = (b"x-fapiao-channel", b"web")
    plain = Edge(None, None, ClientIp([]), 0)  # type: ignore[arg-type]
    assert plain.caller(scope("198.51.100.1", fwd)) == ("198.51.100.1", "api")
    assert plain.caller(scope(None)) == ("unknown", "api")
    assert plain.caller(scope("198.51.100.1", web)) == ("198.51.100.1", "web")
    assert plain.caller(scope("1.1.1.1", (b"x-fapiao-channel", b"bogus"))) == ("1.1.1.1", "api")
    proxied = Edge(None, None, ClientIp(["10.0.0.0/8"]), 0)  # type: ignore[arg-type]
    assert proxied.caller(scope("10.1.1.1", fwd, web)) == ("203.0.113.9", "web")
    assert proxied.caller(scope("198.51.100.1", fwd)) == ("198.51.100.1", "api")
    assert proxied.caller(scope("10.1.1.1")) == ("10.1.1.1", "api")


async def test_health_ready_metrics_and_openapi(make_client: Any, store: Any) -> None:
    store.insert_invoices([ordinary()])
    async with make_client() as client:
        await client.post("/api/v1/verify", json={"qr": QR})
        await client.post("/api/v1/verify", json={"qr": QR})
        health = await client.get("/healthz")
        ready = await client.get("/readyz")
        metrics = (await client.get("/metrics")).text
        spec = (await client.get("/schema/openapi.json")).json()
    assert health.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"
    assert 'fapiao_verify_results_total{channel="api",code="001"} 2.0' in metrics
    assert 'fapiao_cache_lookups_total{how="hit"} 1.0' in metrics
    assert "fapiao_cache_hit_ratio 0.5" in metrics
    assert "fapiao_store_lookup_seconds_count 1.0" in metrics
    assert "fapiao_http_request_seconds_bucket" in metrics
    post = spec["paths"]["/api/v1/verify"]["post"]
    examples = post["requestBody"]["content"]["application/json"]["schema"]["examples"]
    assert any("qr" in e for e in examples)
    assert post["responses"]["200"]["content"]["application/json"]["examples"]
    assert {"200", "400", "404", "425", "429", "503"} <= set(post["responses"])


async def test_status_change_by_an_ingest_elsewhere_is_seen_within_a_poll(
    make_client: Any, store: Any
) -> None:
    from verify import Status

    store.insert_invoices([ordinary()])
    async with make_client(FAPIAO_DAILY_LIMIT="1000") as client:
        assert (await client.post("/api/v1/verify", json={"qr": QR})).json()["status"] == "normal"
        store.insert_invoices([ordinary(status=Status.RED_REVERSED)])
        store.record_changes([ordinary().invoice_key])  # as an ingest in another process does
        for _ in range(50):  # the change log is polled every 0.2 s here
            body = (await client.post("/api/v1/verify", json={"qr": QR})).json()
            if body["status"] != "normal":
                break
            await asyncio.sleep(0.1)
    assert (body["status"], body["status_label"]) == ("red_reversed", "已全额红冲")


async def test_readyz_says_degraded_while_redis_is_away(
    make_client: Any, store: Any, tmp_path: Any
) -> None:
    from verify._cache import PrivateRedis

    store.insert_invoices([ordinary()])
    own = PrivateRedis(tmp_path / "own-redis").start()
    try:
        async with make_client(FAPIAO_REDIS_URL=own.url) as client:
            assert (await client.get("/readyz")).json()["cache"] == "ok"
            assert own.process is not None
            own.process.kill()
            own.process.wait()
            r = await client.post("/api/v1/verify", json={"qr": QR})
            assert (r.status_code, r.json()["code"]) == (200, "001")  # from ClickHouse
            ready = await client.get("/readyz")
            metrics = (await client.get("/metrics")).text
    finally:
        own.process = None
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert "fapiao_cache_degraded 1.0" in metrics


async def test_a_wrong_body_says_what_is_wrong_with_it(make_client: Any) -> None:
    json_type = {"content-type": "application/json"}
    async with make_client() as client:
        empty = await client.post("/api/v1/verify", content=b"", headers=json_type)
        array = await client.post("/api/v1/verify", content=b"[1, 2]", headers=json_type)
        no_file = await client.post(
            "/api/v1/verify/image", files={"photo": ("a.png", b"\x89PNG", "image/png")}
        )
        wrong_type = await client.post("/api/v1/verify", json={"qr": 5})
    got = {
        name: (r.status_code, r.json()["error"]["code"], r.json()["error"]["field"])
        for name, r in {
            "empty": empty, "array": array, "no_file": no_file, "wrong_type": wrong_type
        }.items()
    }  # fmt: skip
    assert got == {
        "empty": (400, "body_missing", None),
        "array": (400, "body_not_object", None),
        "no_file": (400, "file_missing", "file"),
        "wrong_type": (400, "invalid_body", "qr"),
    }
    assert "got `array`" in array.json()["error"]["message"]
    assert "got `int`" in wrong_type.json()["error"]["message"]
