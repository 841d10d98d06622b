"""Hand-written import records (valid unless a test spoils them) and file writers."""

from __future__ import annotations

import copy
import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

SELLER = {
    "tax_id": "91350100M000100Y43",
    "name": "福州某某科技有限公司",
    "address": "福州市鼓楼区五四路1号",
    "phone": "0591-87654321",
    "bank": "中国工商银行福州鼓楼支行",
    "account": "1402020109000123456",
}
BUYER = {"tax_id": "91110000802100433B", "name": "北京某某贸易有限公司"}


def digital_invoice(n: int = 1, **changes: Any) -> dict[str, Any]:
    """A 数电 ordinary invoice (kind 32) whose key is its 20-digit number."""
    record: dict[str, Any] = {
        "kind": "32",
        "code": "",
        "number": f"2644200000000{n:07d}",
        "issue_date": "2026-03-30",
        "amount": "89.17",
        "tax": "11.59",
        "total": "100.76",
        "check_code": "",
        "status": "normal",
        "risk_level": "01",
        "seller": dict(SELLER),
        "buyer": dict(BUYER),
        "items": [
            {
                "name": "*信息技术服务*软件维护",
                "spec": "",
                "unit": "次",
                "quantity": "1",
                "unit_price": "89.17",
                "amount": "89.17",
                "tax_rate": "0.13",
                "tax": "11.59",
            }
        ],
        "machine_no": "",
        "remarks": "",
    }
    record.update(copy.deepcopy(changes))
    return record


def paper_invoice(n: int = 1, **changes: Any) -> dict[str, Any]:
    """A paper VAT ordinary invoice (kind 04, Shenzhen code) which can be voided."""
    return digital_invoice(
        n,
        **{
            "kind": "04",
            "code": "4403201330",
            "number": f"{n:08d}",
            "check_code": "12345678901234567890",
            **changes,
        },
    )


def key_of(record: dict[str, Any]) -> str:
    return f"{record['code']}{record['number']}"


def event(event_id: str, key: str, kind: str = "delivered", **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event_id": event_id,
        "invoice_key": key,
        "event_time": "2026-03-30T10:15:00+08:00",
        "kind": kind,
        "actor_tax_id": SELLER["tax_id"],
        "channel": "platform",
        "detail": {},
    }
    record.update(changes)
    return record


def ndjson(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def write(path: Path, data: bytes, *, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def invoices_csv(records: list[dict[str, Any]]) -> bytes:
    """The CSV form: flattened parties, items as a JSON string."""
    parties = [f"{role}_{f}" for role in ("seller", "buyer") for f in SELLER]
    plain = [k for k in records[0] if k not in ("seller", "buyer", "items")]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*plain, *parties, "items"])
    for r in records:
        flat = [r.get(role, {}).get(f, "") for role in ("seller", "buyer") for f in SELLER]
        writer.writerow([*(r[k] for k in plain), *flat, json.dumps(r["items"], ensure_ascii=False)])
    return out.getvalue().encode()


def events_csv(records: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    cols = [k for k in records[0] if k != "detail"]
    writer.writerow([*cols, "detail"])
    for r in records:
        writer.writerow([*(r[k] for k in cols), json.dumps(r["detail"], ensure_ascii=False)])
    return out.getvalue().encode()
