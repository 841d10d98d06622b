"""The SQL of the native NDJSON path (ingest/_native.py): ClickHouse parses and checks
each line in C++ and writes accepted rows straight into the registry.

It is a fast filter: it accepts a SUBSET of what the Python path (ingest/_fast.py,
then ingest/_records.py) accepts, and builds the same record for it. Whatever
it is not sure of is flagged and goes through the Python path, which rejects it
with the precise reason or accepts it. So it flags, among others:

- any line that is not valid UTF-8, has a backslash (an escape), a blank before a
  colon, a duplicate or unknown key, a non-string scalar (number, true, false,
  null) anywhere, or a nested container other than ``seller`` / ``buyer`` /
  ``items`` (objects) and ``detail``;
- any text with leading or trailing whitespace (Python strips it; the class is
  Python's own ``str.isspace``), longer than the fast path allows, numbers and
  dates outside a strict form.

Taxpayer IDs and legacy invoice codes are checked by the verify core in Python
(once per distinct value, ingest/_native.py) and handed to SQL as a table of
valid values. Constants (kinds, statuses, event kinds) come from the verify core
as query parameters. The ``doc`` column is the accepted line itself with its
``invoice_key`` put first (verify/_store/_rows.py reads JSON and msgpack docs);
its cityHash64 is the source_hash.

The statements run with short-circuit evaluation off (ingest/_native.py: lazy AND
re-evaluated the shared JSON extraction per branch), so no function here may
throw on any input: the *OrZero forms, guarded arguments.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Final

import msgspec

from ingest._fast import _Event, _Invoice, _Item, _Party
from ingest._records import INVOICE_KINDS
from verify import DIGITAL_KINDS, STATUS_CHANGING_EVENTS, EventKind, RiskLevel, Status

_MONEY: Final = r"^-?(0|[1-9][0-9]{0,12})\.[0-9]{2}$"
"""Amounts already in their quantized form (Decimal(x).quantize(0.01) has the same text)."""


def params() -> dict[str, Any]:
    """The query parameters every statement may use (constants of the verify core)."""
    return dict(_params())


@functools.cache
def _params() -> dict[str, Any]:
    return {
        "kinds": sorted(INVOICE_KINDS),
        "digital": sorted(DIGITAL_KINDS),
        "statuses": [s.value for s in Status],
        "risks": [r.value for r in RiskLevel],
        "ev_kinds": [k.value for k in EventKind],
        "status_kinds": sorted(k.value for k in STATUS_CHANGING_EVENTS),
        "re_blank": r"^[ \t\r\n\x0b\x0c]*$",
        "re_money": _MONEY,
        "re_num": r"^-?[0-9]{1,18}(\.[0-9]{1,10})?$",
        "re_rate": r"^0(\.[0-9]{1,10})?$",
        "re_date": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        "re_time": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,3})?"
        r"(Z|[+-][0-9]{2}:[0-9]{2})$",
    }


@functools.cache
def _edge_needles() -> str:
    """An array literal of \\x01 beside each whitespace character (Python's own
    ``str.isspace``: what ``strip`` removes): text joined by \\x01 and wrapped in it
    holds one of them exactly when one of the texts starts or ends with whitespace,
    found by ``multiSearchAny`` without a regex call a row (the events' check was a
    regex of those characters: 0.41 vs 0.46 CPU-s a 48 MB event chunk's parse, least
    of six alternated runs, 2026-11-25)."""
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]

    def lit(text: str) -> str:
        return "'" + "".join(f"\\x{ord(ch):02x}" if ord(ch) < 0x80 else ch for ch in text) + "'"

    return "[" + ", ".join(lit(n) for w in spaces for n in ("\x01" + w, w + "\x01")) + "]"


def _fields(struct: Any, *leave: str) -> tuple[str, ...]:
    """The keys a record may have: the fast path's own structs (ingest/_fast.py)."""
    return tuple(f.name for f in msgspec.structs.fields(struct) if f.name not in leave)


_INVOICE_SCALARS: Final = _fields(_Invoice, "seller", "buyer", "items")
_PARTY_FIELDS: Final = _fields(_Party)
_ITEM_FIELDS: Final = _fields(_Item)
_EVENT_SCALARS: Final = _fields(_Event, "detail")
_EVENT_T: Final = (
    "Tuple("
    + ", ".join(f"{f} Nullable(String)" for f in _EVENT_SCALARS)
    + ", detail Map(String, String))"
)
_PARTY_T: Final = "Tuple(" + ", ".join(f"{f} Nullable(String)" for f in _PARTY_FIELDS) + ")"
_INVOICE_T: Final = (
    "Tuple("
    + ", ".join(f"{f} Nullable(String)" for f in _INVOICE_SCALARS)
    + f", seller {_PARTY_T}, buyer {_PARTY_T}, items Array(Tuple("
    + ", ".join(f"{f} Nullable(String)" for f in _ITEM_FIELDS)
    + ")))"
)
"""One parse of an invoice line (NULL: the key is absent)."""

PARSED_INVOICES_DDL: Final = """
CREATE TABLE {name} (
    n UInt64, pre_ok UInt8, key String, kind String, code String, issue_date Date,
    seller_tax_id String, buyer_tax_id String, total Decimal(18, 2),
    record_status String, risk_level String, h UInt64, doc String
) ENGINE = Memory
"""
PARSED_EVENTS_DDL: Final = """
CREATE TABLE {name} (
    n UInt64, pre_ok UInt8, ident String, invoice_key String,
    event_time DateTime64(3, 'UTC'), kind String, actor_tax_id String, channel String,
    detail Map(String, String)
) ENGINE = Memory
"""


def _lines(source: str, events: bool) -> str:
    """The chunk's non-blank lines of one kind with their 0-based row number in the
    chunk (an event line names "event_id", as for ingest/_parallel.validate_line)."""
    return (
        f"SELECT _row_number AS n, line FROM file({source}, LineAsString, 'line String') "
        "WHERE NOT match(line, {re_blank:String}) "
        f"AND position(line, '\"event_id\"') {'>' if events else '='} 0"
    )


def parse_invoices_sql(table: str, source: str) -> str:
    """Invoice lines of the chunk into ``table`` (PARSED_INVOICES_DDL), checked.

    The line itself, with the derived ``invoice_key`` put first, is the ``doc``: an
    accepted line holds only known keys, strings and quantized amounts, so
    msgspec decodes it into the Invoice the fast path builds from it.

    One JSON parse a line, into typed tuples (a field is NULL when its key is
    absent). Keys and value types are checked by counting in the text ``t`` (the
    line with ``": `` written ``":``): with no backslash (so no quote inside a
    string) and no blank before a colon, every key ends in ``":`` and every string
    value follows ``":"``. So the ``":`` count must be the number of known keys
    present (an unknown or repeated key makes one too many), and every value but
    the containers (``seller``, ``buyer``, ``items``) must be a string.

    ``doc`` and its hash are kept for every line, not emptied where a check failed:
    only accepted rows' are read (every later statement leaves out the flagged ones),
    and ``if`` over a string column copies it (~6 % of the parse, 2026-11-24)."""
    items_ok = (
        "arrayAll(i -> ifNull(i.name, '') != ''"
        " AND (isNull(i.quantity) OR match(ifNull(i.quantity, ''), {re_num:String}))"
        " AND (isNull(i.unit_price) OR match(ifNull(i.unit_price, ''), {re_num:String}))"
        " AND match(ifNull(i.amount, ''), {re_money:String})"
        " AND match(ifNull(i.tax_rate, ''), {re_rate:String})"
        " AND match(ifNull(i.tax, ''), {re_money:String}), items)"
    )
    keys = " + ".join(
        [f"isNotNull(m.{f})" for f in _INVOICE_SCALARS]
        + [f"isNotNull({p}.{f})" for p in ("seller", "buyer") for f in _PARTY_FIELDS]
        + ["arraySum(arrayMap(i -> " + " + ".join(f"isNotNull(i.{f})" for f in _ITEM_FIELDS)
           + ", items))"]
    )  # fmt: skip
    texts = ", '\\x01', ".join(
        [f"ifNull({p}.{f}, '')" for p in ("seller", "buyer") for f in _PARTY_FIELDS]
        + ["ifNull(m.machine_no, '')", "ifNull(m.remarks, '')",
           "arrayStringConcat(arrayMap(i -> concat(ifNull(i.name, ''), '\\x01', "
           "ifNull(i.spec, ''), '\\x01', ifNull(i.unit, '')), items), '\\x01')"]
    )  # fmt: skip
    lengths = " AND ".join(
        f"lengthUTF8(ifNull({x}, '')) <= 2000"
        for x in [f"{p}.{f}" for p in ("seller", "buyer") for f in _PARTY_FIELDS]
        + ["m.machine_no", "m.remarks"]
    )
    return f"""
INSERT INTO {table}
SELECT n, pre_ok, key, kind, code, if(pre_ok, toDateOrZero(issue_date_s), toDate(0)),
       seller_tax_id, ifNull(buyer.tax_id, ''),
       if(pre_ok, toDecimal64OrZero(total_s, 2), toDecimal64(0, 2)), record_status, risk,
       cityHash64(doc), doc
FROM (
    SELECT n, line,
        replaceAll(line, '": ', '":') AS t,
        JSONExtract(t, '{_INVOICE_T}') AS m,
        m.seller AS seller,
        m.buyer AS buyer,
        m.items AS items,
        ifNull(m.kind, '') AS kind,
        ifNull(m.code, '') AS code,
        ifNull(m.number, '') AS number,
        ifNull(m.issue_date, '') AS issue_date_s,
        ifNull(m.amount, '') AS amount_s,
        ifNull(m.tax, '') AS tax_s,
        ifNull(m.total, '') AS total_s,
        ifNull(m.check_code, '') AS check_code,
        ifNull(m.status, 'normal') AS record_status,
        ifNull(m.risk_level, '01') AS risk,
        ifNull(m.invoice_key, '') AS given_key,
        ifNull(seller.tax_id, '') AS seller_tax_id,
        if(length(number) = 20, number, concat(code, number)) AS key,
        kind IN {{digital:Array(String)}} AS digital,
        toDecimal128OrZero(amount_s, 2) AS amount_d,
        toDecimal128OrZero(tax_s, 2) AS tax_d,
        position(t, '"buyer":{{') > 0 AS has_buyer,
        position(t, '"items":[') > 0 AS has_items,
        countSubstrings(t, '":') AS colons,
        (
            startsWith(line, '{{') AND isValidUTF8(line) AND position(line, '\\\\') = 0
            AND NOT multiSearchAny(line, ['" :', '"\\t:', '"\\r:'])
            AND position(t, '"seller":{{') > 0
            AND colons = {keys} + 1 + has_buyer + has_items
            AND colons - countSubstrings(t, '":"') = 1 + has_buyer + has_items
            AND isNotNull(m.code)
            AND kind IN {{kinds:Array(String)}}
            AND if(digital,
                   code = '' AND match(number, '^[0-9]{{20}}$')
                       AND substring(number, 3, 1) != '0',
                   match(code, '^[0-9]{{10}}([0-9]{{2}})?$') AND match(number, '^[0-9]{{8}}$')
                       AND number != '00000000')
            AND match(issue_date_s, {{re_date:String}})
            AND issue_date_s BETWEEN '1970-01-01' AND '2149-06-06'
            AND toString(toDate32OrZero(issue_date_s)) = issue_date_s
            AND (check_code = '' OR match(check_code, '^[0-9]{{5,32}}$'))
            AND match(amount_s, {{re_money:String}}) AND match(tax_s, {{re_money:String}})
            AND match(total_s, {{re_money:String}})
            AND amount_d + tax_d = toDecimal128OrZero(total_s, 2)
            AND {items_ok}
            AND (empty(items) OR (
                arraySum(arrayMap(i -> toDecimal128OrZero(ifNull(i.amount, ''), 2), items))
                    = amount_d
                AND arraySum(arrayMap(i -> toDecimal128OrZero(ifNull(i.tax, ''), 2), items))
                    = tax_d))
            AND (given_key = '' OR given_key = key)
            AND record_status IN {{statuses:Array(String)}} AND risk IN {{risks:Array(String)}}
            AND seller_tax_id != ''
            AND {lengths}
            AND arrayAll(i -> lengthUTF8(ifNull(i.name, '')) <= 2000
                AND lengthUTF8(ifNull(i.spec, '')) <= 2000
                AND lengthUTF8(ifNull(i.unit, '')) <= 2000, items)
            AND NOT multiSearchAny(concat('\\x01', {texts}, '\\x01'), {_edge_needles()})
        ) AS pre_ok,
        concat('{{"invoice_key":"', key, '",', substring(line, 2)) AS doc
    FROM ({_lines(source, events=False)})
)
"""


def parse_events_sql(table: str, source: str) -> str:
    """Event lines of the chunk into ``table`` (PARSED_EVENTS_DDL), checked: one JSON
    parse a line into a typed tuple, keys and value types counted in the text as for
    invoices (:func:`parse_invoices_sql`; the one container is ``detail``)."""
    scalars = " + ".join(f"isNotNull(m.{f})" for f in _EVENT_SCALARS)
    return f"""
INSERT INTO {table}
SELECT n, pre_ok, ident, key,
       if(pre_ok, addSeconds(makeDateTime64(if(pre_ok, y, 1970), if(pre_ok, mo, 1),
                                            if(pre_ok, d, 1), if(pre_ok, hh, 0),
                                            if(pre_ok, mi, 0), if(pre_ok, ss, 0),
                                            if(pre_ok, ms, 0), 3, 'UTC'),
                             -offset_s),
          toDateTime64(0, 3, 'UTC')),
       kind, actor, channel, if(pre_ok, detail, map())
FROM (
    SELECT n, line,
        replaceAll(line, '": ', '":') AS tl,
        JSONExtract(tl, '{_EVENT_T}') AS m,
        m.detail AS detail,
        ifNull(m.event_id, '') AS ident,
        ifNull(m.invoice_key, '') AS key,
        ifNull(m.kind, '') AS kind,
        ifNull(m.actor_tax_id, '') AS actor,
        ifNull(m.channel, '') AS channel,
        ifNull(m.event_time, '') AS t,
        position(tl, '"detail":{{') > 0 AS has_detail,
        countSubstrings(tl, '":') AS colons,
        toUInt16OrZero(substring(t, 1, 4)) AS y,
        toUInt8OrZero(substring(t, 6, 2)) AS mo,
        toUInt8OrZero(substring(t, 9, 2)) AS d,
        toUInt8OrZero(substring(t, 12, 2)) AS hh,
        toUInt8OrZero(substring(t, 15, 2)) AS mi,
        toUInt8OrZero(substring(t, 18, 2)) AS ss,
        if(endsWith(t, 'Z'), 'Z', right(t, 6)) AS tz,
        if(substring(t, 20, 1) = '.',
           toUInt32OrZero(rightPad(substring(t, 21, length(t) - 20 - length(tz)), 3, '0')),
           0) AS ms,
        if(tz = 'Z', 0,
           if(left(tz, 1) = '-', -1, 1)
           * (toInt32OrZero(substring(tz, 2, 2)) * 3600
              + toInt32OrZero(substring(tz, 5, 2)) * 60)) AS offset_s,
        match(t, {{re_time:String}}) AND y BETWEEN 1970 AND 2099 AND mo BETWEEN 1 AND 12
            AND d BETWEEN 1 AND 31 AND hh <= 23 AND mi <= 59 AND ss <= 59
            AND (tz = 'Z' OR (toUInt8OrZero(substring(tz, 2, 2)) <= 18
                              AND toUInt8OrZero(substring(tz, 5, 2)) <= 59)) AS time_form,
        (
            startsWith(line, '{{') AND isValidUTF8(line) AND position(line, '\\\\') = 0
            AND NOT multiSearchAny(line, ['" :', '"\\t:', '"\\r:'])
            AND colons = {scalars} + has_detail + length(detail)
            AND colons - countSubstrings(tl, '":"') = has_detail
            AND isNotNull(m.invoice_key) AND isNotNull(m.event_time)
            AND ident != '' AND lengthUTF8(ident) <= 128
            AND translate(key, '123456789', '000000000') IN ('{"0" * 18}', '{"0" * 20}')
                -- ^([0-9]{{18}}|[0-9]{{20}})$ without a regex call a row
            AND kind IN {{ev_kinds:Array(String)}}
            AND (kind != 'red_issued' OR (detail['scope'] IN ('full', 'partial')
                 AND (detail['amount'] = '' OR match(detail['amount'], {{re_money:String}}))))
            AND lengthUTF8(channel) <= 2000 AND lengthUTF8(actor) <= 2000
            AND NOT multiSearchAny(
                concat('\\x01', ident, '\\x01', channel, '\\x01', actor, '\\x01'),
                {_edge_needles()})
            AND time_form
            AND toString(toDate32OrZero(substring(t, 1, 10))) = substring(t, 1, 10)
        ) AS pre_ok
    FROM ({_lines(source, events=True)})
)
"""


def ids_to_check_sql(inv: str, ev: str, valid: str) -> str:
    """Distinct taxpayer IDs and legacy (code, kind) pairs not yet known valid."""
    return f"""
SELECT DISTINCT v FROM (
    SELECT arrayJoin([concat('t:', seller_tax_id), concat('t:', buyer_tax_id),
                      if(kind IN {{digital:Array(String)}}, 't:',
                         concat('c:', code, '/', kind))]) AS v
    FROM {inv} WHERE pre_ok
    UNION ALL
    SELECT concat('t:', actor_tax_id) FROM {ev} WHERE pre_ok
) WHERE v != 't:' AND v NOT IN (SELECT v FROM {valid})
"""


def flag_invoices_sql(inv: str, valid: str, excl: str) -> str:
    """Rows SQL does not accept: a pre-check failed, or an ID or code is not valid."""
    return f"""
INSERT INTO {excl}
SELECT n FROM {inv}
WHERE NOT (
    pre_ok AND concat('t:', seller_tax_id) IN (SELECT v FROM {valid})
    AND (buyer_tax_id = '' OR concat('t:', buyer_tax_id) IN (SELECT v FROM {valid}))
    AND (kind IN {{digital:Array(String)}}
         OR concat('c:', code, '/', kind) IN (SELECT v FROM {valid}))
)
"""


def flag_events_sql(ev: str, valid: str, excl: str) -> str:
    return f"""
INSERT INTO {excl}
SELECT n FROM {ev}
WHERE NOT (pre_ok AND (actor_tax_id = ''
                       OR concat('t:', actor_tax_id) IN (SELECT v FROM {valid})))
"""
