"""The verify body: the joined fast path for a verified answer is byte-identical to the
encoded VerifyBody, for every status; other answers take the encoder."""

from __future__ import annotations

import json

import pytest

from api._render import encode, outcome_body, render_outcome
from verify import ResultCode, Status
from verify._pipeline import Outcome

INVOICE = b'{"invoice_key":"26427000000316294884","kind":"32","total":"100.76"}'
FLOW = b'[{"time":"2026-03-30T10:00:00+08:00","kind":"issued","label":"\xe5\xbc\x80\xe5\x85\xb7"}]'


@pytest.mark.parametrize("status", [s.value for s in Status])
def test_a_verified_answer_is_the_encoded_body_for_every_status(status: str) -> None:
    outcome = Outcome(
        result=ResultCode.VERIFIED,
        status=status,
        verify_count=3,
        invoice_json=INVOICE,
        flow_json=FLOW,
        invoice_key="26427000000316294884",
    )
    body = render_outcome(outcome)
    assert body == encode(outcome_body(outcome))
    doc = json.loads(body)
    assert (doc["code"], doc["status"], doc["verify_count"]) == ("001", status, 3)
    assert doc["invoice"]["total"] == "100.76"
    assert doc["flow"][0]["label"] == "开具"
    assert doc["error"] is None


@pytest.mark.parametrize(
    "outcome",
    [
        Outcome(result=ResultCode.MISMATCH, ip_count=1),
        Outcome(result=ResultCode.VERIFIED, status="no-such-status", verify_count=1,
                invoice_json=INVOICE, flow_json=FLOW),
        Outcome(result=ResultCode.VERIFIED, status="normal", verify_count=None,
                invoice_json=INVOICE, flow_json=FLOW),
    ],
)  # fmt: skip
def test_other_answers_are_encoded(outcome: Outcome) -> None:
    assert render_outcome(outcome) == encode(outcome_body(outcome))
