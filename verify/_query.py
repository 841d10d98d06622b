"""What one verification asks: the invoice it names and the secret element offered.

Both entry paths produce an :class:`InvoiceQuery`: a parsed QR payload
(:func:`verify.parse_qr`) and fields typed by hand (:func:`verify.query_from_fields`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec

from verify._kinds import Secret, kind_name, region_name, secret_for


# gc=False: every field is atomic (str, Decimal, date, enum, None), so no cycle can
# run through these; untracked instances cost the collector nothing on the hot path.
class InvoiceQuery(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A normalised verification request; money is ``Decimal``, never float."""

    kind: str
    """Verification kind (``01``...``61``; ``digital`` for a hand-typed 数电 number)."""
    code: str
    number: str
    issue_date: dt.date
    secret: Secret
    amount: Decimal | None = None
    """The amount offered: excl. tax for ``Secret.AMOUNT``, total for ``Secret.TOTAL``."""
    check6: str | None = None
    invoice_key: str
    derived_kind: str | None = None
    region: str | None = None

    @property
    def secret_value(self) -> str:
        """The secret element as the registry compares it."""
        if self.secret is Secret.CHECK6:
            return self.check6 or ""
        return f"{self.amount:.2f}" if self.amount is not None else ""


class QrPayload(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One parsed QR payload line (DOMAIN.md §1), fields kept as printed."""

    version: str
    qr_kind: str
    kind: str
    """Verification kind: the QR kind, except 20 which is verified as 08."""
    code: str
    number: str
    amount: Decimal
    """Excl. tax for legacy kinds; total incl. tax for 数电 kinds."""
    issue_date: dt.date
    check_code: str
    tail: str
    invoice_key: str
    derived_kind: str | None
    region: str | None

    def to_query(self) -> InvoiceQuery:
        """The verification this payload asks for."""
        check_code = self.check_code
        secret = _qr_secret(self.kind, len(check_code) >= 6)
        by_check6 = secret is Secret.CHECK6
        return InvoiceQuery(
            kind=self.kind,
            code=self.code,
            number=self.number,
            issue_date=self.issue_date,
            secret=secret,
            check6=check_code[-6:] if by_check6 else None,
            amount=None if by_check6 else self.amount,
            invoice_key=self.invoice_key,
            derived_kind=self.derived_kind,
            region=self.region,
        )

    def to_json_dict(self) -> dict[str, object]:
        """The normalised fields as `fapiao parse` prints them."""
        return {
            "version": self.version,
            "kind": self.kind,
            "qr_kind": self.qr_kind,
            "kind_name": kind_name(self.kind),
            "code": self.code,
            "number": self.number,
            "issue_date": self.issue_date.isoformat(),
            "amount": f"{self.amount:.2f}",
            "amount_basis": "total" if self.kind in _TOTAL_BASIS else "excluding_tax",
            "check_code": self.check_code,
            "tail": self.tail,
            "invoice_key": self.invoice_key,
            "derived_kind": self.derived_kind,
            "region": self.region,
            "region_name": region_name(self.region),
        }


_TOTAL_BASIS = frozenset({"31", "32", "33", "34", "51", "61"})
_qr_secrets: dict[tuple[str, bool], Secret] = {}


def _qr_secret(kind: str, has_check6: bool) -> Secret:
    """The secret a QR payload of ``kind`` can match (memoised: a handful of keys)."""
    secret = _qr_secrets.get((kind, has_check6))
    if secret is None:
        secret = secret_for(kind)
        if kind not in _TOTAL_BASIS and (
            secret is Secret.TOTAL or (secret is Secret.CHECK6 and not has_check6)
        ):
            # A legacy QR carries the amount excluding tax (DOMAIN.md §1), not the
            # freight / used-car total; and a QR without a check code still proves
            # the amount. Either way the amount is what this payload can match.
            secret = Secret.AMOUNT
        _qr_secrets[(kind, has_check6)] = secret
    return secret
