"""The SQL of the native NDJSON path (ingest/_native.py): ClickHouse parses and checks
each line in C++ and writes accepted rows straight into the registry.

It is a fast filter: it accepts a SUBSET of what the Python path (ingest/_fast.py,
then ingest/_records.py) accepts, and builds the same record for it. Whatever
it is not sure of is flagged and goes through the Python path, which rejects it
with the precise reason or accepts it. So it flags, among others:

- any line that is not valid UTF-8, has a ``\\u`` escape, a duplicate or unknown
  key, a non-string scalar (number, true, false, null) anywhere, or a nested
  container other than ``seller`` / ``buyer`` / ``items`` (objects) and
  ``detail``;
- any text with leading or trailing whitespace (Python strips it; the class is
  Python's own ``str.isspace``), longer than the fast path allows, numbers and
  dates outside a strict form, and status-changing events (their fold is Python's).

Taxpayer IDs and legacy invoice codes are checked by the verify core in Python
(once per distinct value, ingest/_native.py) and handed to SQL as a table of
valid values. Constants (kinds, statuses, event kinds) come from the verify core
as query parameters. The doc column is JSON of the Invoice (verify/_store/_rows.py
reads both JSON and msgpack docs); its cityHash64 is the source_hash.
"""

from __future__ import annotations

import sys
from typing import Any, Final

import msgspec

from ingest._fast import _Event, _Invoice
from ingest._records import INVOICE_KINDS
from verify import DIGITAL_KINDS, STATUS_CHANGING_EVENTS, EventKind, RiskLevel, Status

_WS: Final = "".join(
    f"\\x{{{c:x}}}" for c in range(sys.maxunicode + 1) if chr(c).isspace()
)  # Python's whitespace (what str.strip removes), as an RE2 class body
_MONEY: Final = r"^-?(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?$"
"""Amounts whose quantized text we can write exactly (no leading zeros)."""


def params() -> dict[str, Any]:
    """The query parameters every statement may use (constants of the verify core)."""
    return {
        "inv_keys": [f.name for f in msgspec.structs.fields(_Invoice)],
        "ev_keys": [f.name for f in msgspec.structs.fields(_Event)],
        "kinds": sorted(INVOICE_KINDS),
        "digital": sorted(DIGITAL_KINDS),
        "statuses": [s.value for s in Status],
        "risks": [r.value for r in RiskLevel],
        "ev_kinds": [k.value for k in EventKind if k not in STATUS_CHANGING_EVENTS],
        "re_blank": r"^[ \t\r\n\x0b\x0c]*$",
        "re_ws_edge": f"^[{_WS}]|[{_WS}]$",
        "re_scalar": r'"\s*:\s*[^"\s\[{]',
        "re_container": r":\s*[\[{]",
        "re_items": r"^\[\s*(\{[^{}\[\]]*\}\s*(,\s*\{[^{}\[\]]*\}\s*)*)?\]$",
        "re_money": _MONEY,
        "re_num": r"^-?[0-9]{1,18}(\.[0-9]{1,10})?$",
        "re_rate": r"^0(\.[0-9]{1,10})?$",
        "re_date": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        "re_time": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,3})?"
        r"(Z|[+-][0-9]{2}:[0-9]{2})$",
        "escape_u": "\\u",
    }


def _text(x: str, limit: int = 2000) -> str:
    """A text field the fast path keeps as is: no edge whitespace, not too long."""
    return f"(lengthUTF8({x}) <= {limit} AND NOT match({x}, {{re_ws_edge:String}}))"


def _money_text(x: str) -> str:
    """Decimal(x).quantize(0.01) as text, for an x matching re_money."""
    return (
        f"multiIf(position({x}, '.') = 0, concat({x}, '.00'), "
        f"length({x}) - position({x}, '.') = 1, concat({x}, '0'), {x})"
    )


# Short-circuit evaluation is off (ingest/_native.py): every function here must
# not throw on any input (the *OrZero forms, guarded arguments).
_PARTY_T: Final = (
    "Tuple(tax_id String, name String, address String, phone String, bank String, account String)"
)
_ITEM_T: Final = (
    "Tuple(name Nullable(String), spec String, unit String, quantity Nullable(String), "
    "unit_price Nullable(String), amount Nullable(String), tax_rate Nullable(String), "
    "tax Nullable(String))"
)
_INVOICE_T: Final = (
    "Tuple(kind String, code String, number String, issue_date String, amount String, "
    "tax String, total String, check_code String, status Nullable(String), "
    f"risk_level Nullable(String), seller {_PARTY_T}, buyer {_PARTY_T}, "
    f"items Array({_ITEM_T}), machine_no String, remarks String, invoice_key String)"
)
_DOC_ITEM_T: Final = (
    "Tuple(name String, spec String, unit String, quantity Nullable(String), "
    "unit_price Nullable(String), amount String, tax_rate String, tax String)"
)
_DOC_T: Final = (
    "Tuple(invoice_key String, kind String, code String, number String, issue_date String, "
    "amount String, tax String, total String, check_code String, status String, "
    f"risk_level String, seller {_PARTY_T}, buyer {_PARTY_T}, items Array({_DOC_ITEM_T}), "
    "machine_no String, remarks String, version UInt8)"
)

_EVENT_T: Final = (
    "Tuple(event_id String, invoice_key String, event_time String, kind String, "
    "actor_tax_id String, channel String)"
)

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


def _lines(source: str) -> str:
    """The chunk's non-blank lines with their 0-based row number in the chunk."""
    return (
        f"SELECT _row_number AS n, line FROM file({source}, LineAsString, 'line String') "
        "WHERE NOT match(line, {re_blank:String})"
    )


def _shape(keys_param: str) -> str:
    """Checks of the top-level object common to invoices and events."""
    return (
        "isValidUTF8(line) AND position(line, {escape_u:String}) = 0 AND isValidJSON(line) "
        "AND notEmpty(kv) AND arrayUniq(keys) = length(keys) "
        f"AND hasAll({{{keys_param}:Array(String)}}, keys) "
        "AND NOT match(line, {re_scalar:String})"
    )


def _field(name: str) -> str:
    return f"arrayFirst(x -> x.1 = '{name}', kv).2"


def _unique_keys(raw: str) -> str:
    return f"(arrayUniq(JSONExtractKeys({raw})) = length(JSONExtractKeys({raw})))"


def parse_invoices_sql(table: str, source: str) -> str:
    """Invoice lines of the chunk into ``table`` (PARSED_INVOICES_DDL), checked."""
    item_ok = (
        "arrayAll(i -> "
        "tupleElement(i, 'name') IS NOT NULL AND tupleElement(i, 'name') != '' AND "
        + _text("assumeNotNull(tupleElement(i, 'name'))")
        + " AND "
        + _text("tupleElement(i, 'spec')")
        + " AND "
        + _text("tupleElement(i, 'unit')")
        + " AND (tupleElement(i, 'quantity') IS NULL"
        " OR match(assumeNotNull(tupleElement(i, 'quantity')), {re_num:String}))"
        " AND (tupleElement(i, 'unit_price') IS NULL"
        " OR match(assumeNotNull(tupleElement(i, 'unit_price')), {re_num:String}))"
        " AND match(ifNull(tupleElement(i, 'amount'), ''), {re_money:String})"
        " AND match(ifNull(tupleElement(i, 'tax_rate'), ''), {re_rate:String})"
        " AND match(ifNull(tupleElement(i, 'tax'), ''), {re_money:String}), items)"
    )
    party_ok = " AND ".join(
        _text(f"tupleElement({p}, '{f}')")
        for p in ("seller", "buyer")
        for f in ("tax_id", "name", "address", "phone", "bank", "account")
    )
    doc_items = (
        "arrayMap(i -> tuple(assumeNotNull(tupleElement(i, 'name')), tupleElement(i, 'spec'), "
        "tupleElement(i, 'unit'), tupleElement(i, 'quantity'), tupleElement(i, 'unit_price'), "
        + _money_text("ifNull(tupleElement(i, 'amount'), '')")
        + ", ifNull(tupleElement(i, 'tax_rate'), ''), "
        + _money_text("ifNull(tupleElement(i, 'tax'), '')")
        + "), items)"
    )
    return f"""
INSERT INTO {table}
SELECT n, pre_ok, key, kind, code, if(pre_ok, toDateOrZero(issue_date_s), toDate(0)),
       tupleElement(seller, 'tax_id'), tupleElement(buyer, 'tax_id'),
       if(pre_ok, toDecimal64OrZero(total_s, 2), toDecimal64(0, 2)), record_status, risk,
       if(pre_ok, cityHash64(doc), 0), if(pre_ok, doc, '')
FROM (
    SELECT n, line,
        JSONExtractKeysAndValuesRaw(line) AS kv,
        arrayMap(x -> x.1, kv) AS keys,
        {_field("seller")} AS seller_raw,
        {_field("buyer")} AS buyer_raw,
        {_field("items")} AS items_raw,
        JSONExtract(line, '{_INVOICE_T}') AS r,
        tupleElement(r, 'kind') AS kind,
        tupleElement(r, 'code') AS code,
        tupleElement(r, 'number') AS number,
        tupleElement(r, 'issue_date') AS issue_date_s,
        tupleElement(r, 'amount') AS amount_s,
        tupleElement(r, 'tax') AS tax_s,
        tupleElement(r, 'total') AS total_s,
        tupleElement(r, 'check_code') AS check_code,
        ifNull(tupleElement(r, 'status'), 'normal') AS record_status,
        ifNull(tupleElement(r, 'risk_level'), '01') AS risk,
        tupleElement(r, 'seller') AS seller,
        tupleElement(r, 'buyer') AS buyer,
        tupleElement(r, 'items') AS items,
        tupleElement(r, 'machine_no') AS machine_no,
        tupleElement(r, 'remarks') AS remarks,
        if(length(number) = 20, number, concat(code, number)) AS key,
        kind IN {{digital:Array(String)}} AS digital,
        match(amount_s, {{re_money:String}}) AND match(tax_s, {{re_money:String}})
            AND match(total_s, {{re_money:String}}) AS money_form,
        toDecimal128OrZero(amount_s, 2) AS amount_d,
        toDecimal128OrZero(tax_s, 2) AS tax_d,
        {item_ok} AS items_form,
        (
            {_shape("inv_keys")}
            AND has(keys, 'kind') AND has(keys, 'number') AND has(keys, 'issue_date')
            AND has(keys, 'amount') AND has(keys, 'tax') AND has(keys, 'total')
            AND has(keys, 'seller')
            AND countMatches(line, {{re_container:String}})
                = 1 + has(keys, 'buyer') + has(keys, 'items')
            AND startsWith(seller_raw, '{{') AND {_unique_keys("seller_raw")}
            AND (buyer_raw = '' OR (startsWith(buyer_raw, '{{')
                 AND {_unique_keys("buyer_raw")}))
            AND (items_raw = '' OR (match(items_raw, {{re_items:String}})
                 AND arrayAll(x -> {_unique_keys("x")}, JSONExtractArrayRaw(items_raw))))
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
            AND money_form AND amount_d + tax_d = toDecimal128OrZero(total_s, 2)
            AND items_form
            AND (empty(items) OR (
                arraySum(arrayMap(i -> toDecimal128OrZero(ifNull(tupleElement(i, 'amount'), ''),
                                                          2), items)) = amount_d
                AND arraySum(arrayMap(i -> toDecimal128OrZero(ifNull(tupleElement(i, 'tax'), ''),
                                                              2), items)) = tax_d))
            AND (tupleElement(r, 'invoice_key') = '' OR tupleElement(r, 'invoice_key') = key)
            AND record_status IN {{statuses:Array(String)}} AND risk IN {{risks:Array(String)}}
            AND tupleElement(seller, 'tax_id') != ''
            AND {party_ok} AND {_text("machine_no")} AND {_text("remarks")}
        ) AS pre_ok,
        toJSONString(CAST(tuple(key, kind, code, number, issue_date_s,
            {_money_text("amount_s")}, {_money_text("tax_s")}, {_money_text("total_s")},
            check_code, record_status, risk, seller, buyer, {doc_items}, machine_no, remarks,
            0), '{_DOC_T}')) AS doc
    FROM ({_lines(source)})
    WHERE position(line, '"event_id"') = 0
)
"""


def parse_events_sql(table: str, source: str) -> str:
    """Event lines of the chunk into ``table`` (PARSED_EVENTS_DDL), checked."""
    return f"""
INSERT INTO {table}
SELECT n, pre_ok, event_id, invoice_key,
       if(pre_ok, addSeconds(makeDateTime64(if(pre_ok, y, 1970), if(pre_ok, mo, 1),
                                            if(pre_ok, d, 1), if(pre_ok, hh, 0),
                                            if(pre_ok, mi, 0), if(pre_ok, ss, 0),
                                            if(pre_ok, ms, 0), 3, 'UTC'),
                             -offset_s),
          toDateTime64(0, 3, 'UTC')),
       kind, actor, channel, if(pre_ok, detail, map())
FROM (
    SELECT n, line,
        JSONExtractKeysAndValuesRaw(line) AS kv,
        arrayMap(x -> x.1, kv) AS keys,
        {_field("detail")} AS detail_raw,
        JSONExtract(line, '{_EVENT_T}') AS r,
        tupleElement(r, 'event_id') AS event_id,
        tupleElement(r, 'invoice_key') AS invoice_key,
        tupleElement(r, 'event_time') AS t,
        tupleElement(r, 'kind') AS kind,
        tupleElement(r, 'actor_tax_id') AS actor,
        tupleElement(r, 'channel') AS channel,
        JSONExtract(if(detail_raw = '', '{{}}', detail_raw), 'Map(String, String)') AS detail,
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
            {_shape("ev_keys")}
            AND has(keys, 'event_id') AND has(keys, 'invoice_key') AND has(keys, 'event_time')
            AND has(keys, 'kind')
            AND countMatches(line, {{re_container:String}}) = has(keys, 'detail')
            AND (detail_raw = '' OR (startsWith(detail_raw, '{{')
                 AND {_unique_keys("detail_raw")}))
            AND event_id != '' AND {_text("event_id", 128)}
            AND match(invoice_key, '^([0-9]{{18}}|[0-9]{{20}})$')
            AND kind IN {{ev_kinds:Array(String)}}
            AND {_text("channel")} AND {_text("actor")}
            AND time_form
            AND toDayOfMonth(toDate32OrZero(substring(t, 1, 10))) = d
            AND toString(toDate32OrZero(substring(t, 1, 10))) = substring(t, 1, 10)
        ) AS pre_ok
    FROM ({_lines(source)})
    WHERE position(line, '"event_id"') > 0
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
