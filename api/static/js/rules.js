/* The server's field rules (verify._kinds, verify._fields, verify._manual) in JavaScript,
 * so the form can follow the invoice kind as the user types and say what is wrong before
 * sending. The server stays the authority: it applies the same rules again.
 * tests/api/test_page_browser.py checks deriveKind and the validators against the
 * Python implementation. */
(function () {
  "use strict";
  var F = (window.Fapiao = window.Fapiao || {});

  var KIND_NAMES = {
    "01": ["增值税专用发票", "VAT special invoice (paper)"],
    "02": ["货物运输业增值税专用发票", "Freight VAT special invoice"],
    "03": ["机动车销售统一发票", "Motor vehicle sales invoice"],
    "04": ["增值税普通发票", "VAT ordinary invoice (paper)"],
    "08": ["增值税电子专用发票", "VAT special invoice (electronic)"],
    "10": ["增值税电子普通发票", "VAT ordinary invoice (electronic)"],
    "11": ["增值税普通发票（卷票）", "VAT ordinary invoice (roll)"],
    "14": ["增值税电子普通发票（通行费）", "Toll road electronic ordinary invoice"],
    "15": ["二手车销售统一发票", "Used car sales invoice"],
    "20": ["增值税电子专用发票", "VAT special invoice (electronic)"],
    "31": ["电子发票（增值税专用发票）", "Fully digitalised e-invoice (special)"],
    "32": ["电子发票（普通发票）", "Fully digitalised e-invoice (ordinary)"],
    "33": ["电子发票（机动车销售统一发票）", "Fully digitalised e-invoice (motor vehicle)"],
    "34": ["电子发票（二手车销售统一发票）", "Fully digitalised e-invoice (used car)"],
    "51": ["电子发票（铁路电子客票）", "Railway e-ticket"],
    "61": ["电子发票（航空运输电子客票行程单）", "Air itinerary e-ticket"],
    digital: ["数电发票", "Fully digitalised e-invoice"]
  };
  var DIGITAL = "digital";
  var DIGITAL_KINDS = { "31": 1, "32": 1, "33": 1, "34": 1, "51": 1, "61": 1 };
  var SECRET = {
    "01": "amount", "08": "amount", "03": "amount",
    "02": "total", "15": "total",
    "04": "check6", "10": "check6", "11": "check6", "14": "check6"
  };
  var WHITELIST_ELECTRONIC = { "144031539110": 1, "131001570151": 1, "133011501118": 1, "111001571071": 1 };
  var TWELVE_SUFFIX = { "11": "10", "04": "04", "05": "04", "06": "11", "07": "11", "12": "14", "17": "15", "13": "08" };
  var TEN_DIGIT = { "1": "01", "5": "01", "3": "04", "6": "04", "2": "02", "7": "02" };
  var PROVINCES = {
    "11": ["北京", "Beijing"], "12": ["天津", "Tianjin"], "13": ["河北", "Hebei"], "14": ["山西", "Shanxi"],
    "15": ["内蒙古", "Inner Mongolia"], "21": ["辽宁", "Liaoning"], "22": ["吉林", "Jilin"],
    "23": ["黑龙江", "Heilongjiang"], "31": ["上海", "Shanghai"], "32": ["江苏", "Jiangsu"],
    "33": ["浙江", "Zhejiang"], "34": ["安徽", "Anhui"], "35": ["福建", "Fujian"], "36": ["江西", "Jiangxi"],
    "37": ["山东", "Shandong"], "41": ["河南", "Henan"], "42": ["湖北", "Hubei"], "43": ["湖南", "Hunan"],
    "44": ["广东", "Guangdong"], "45": ["广西", "Guangxi"], "46": ["海南", "Hainan"],
    "50": ["重庆", "Chongqing"], "51": ["四川", "Sichuan"], "52": ["贵州", "Guizhou"],
    "53": ["云南", "Yunnan"], "54": ["西藏", "Tibet"], "61": ["陕西", "Shaanxi"], "62": ["甘肃", "Gansu"],
    "63": ["青海", "Qinghai"], "64": ["宁夏", "Ningxia"], "65": ["新疆", "Xinjiang"]
  };
  var PLANNED_CITIES = {
    "2102": ["大连", "Dalian"], "3302": ["宁波", "Ningbo"], "3502": ["厦门", "Xiamen"],
    "3702": ["青岛", "Qingdao"], "4403": ["深圳", "Shenzhen"]
  };
  var AMOUNT = /^-?\d{1,13}(?:\.\d{0,2})?$/;
  var DIGITS = /^[0-9]+$/;

  function isDigits(s) { return DIGITS.test(s); }

  /* verify.to_ascii_forms: full-width forms (１２３，．) to ASCII, invisible characters dropped,
   * as Chinese input methods and scanners produce them. */
  function toAscii(text) {
    return String(text || "").replace(/[\uff01-\uff5e\u3000\ufeff\u200b-\u200d\u2060]/g, function (c) {
      var n = c.charCodeAt(0);
      if (n === 0x3000) return " ";
      if (n >= 0xff01 && n <= 0xff5e) return String.fromCharCode(n - 0xfee0);
      return "";
    });
  }

  /* verify.derive_kind */
  function deriveKind(code) {
    if (!isDigits(code)) return null;
    if (code.length === 12) {
      if (WHITELIST_ELECTRONIC[code]) return "10";
      if (code[0] === "0") return TWELVE_SUFFIX[code.slice(10, 12)] || null;
      if (code[7] === "2") return "03";
      return null;
    }
    if (code.length === 10) return TEN_DIGIT[code[7]] || null;
    return null;
  }

  function verificationKind(kind) { return kind === "20" ? "08" : kind; }

  /* verify.secret_for */
  function secretFor(kind) {
    if (kind === DIGITAL || DIGITAL_KINDS[kind]) return "total";
    return SECRET[verificationKind(kind)] || null;
  }

  function kindName(kind, lang) {
    var pair = KIND_NAMES[kind];
    if (!pair) return lang === "en" ? "Unknown kind" : "未知票种";
    return lang === "en" ? pair[1] : pair[0];
  }

  function regionDigits(code) {
    if (code.length === 12) return code.slice(1, 5);
    if (code.length === 10) return code.slice(0, 4);
    return null;
  }

  function taxRegion(region) {
    if (!region || region.length !== 4 || !isDigits(region)) return null;
    if (PLANNED_CITIES[region]) return region;
    if (PROVINCES[region.slice(0, 2)]) return region.slice(0, 2) + "00";
    return null;
  }

  function regionName(region, lang) {
    if (!region) return null;
    var pair = PLANNED_CITIES[region] || PROVINCES[region.slice(0, 2)];
    if (!pair) return null;
    return lang === "en" ? pair[1] : pair[0];
  }

  function fail(code, field) { return { error: code, field: field }; }
  function ok(value) { return { value: value }; }

  /* verify.validate_code */
  function validateCode(raw) {
    var code = raw.trim();
    if (!isDigits(code)) return fail("code_not_digits", "code");
    if (code.length !== 10 && code.length !== 12) return fail("code_length", "code");
    if (deriveKind(code) === null) return fail("code_unknown_kind", "code");
    if (taxRegion(regionDigits(code)) === null) return fail("code_region", "code");
    return ok(code);
  }

  /* verify.validate_legacy_number */
  function validateLegacyNumber(raw) {
    var n = raw.trim();
    if (!isDigits(n) || n.length !== 8) return fail("number_format", "number");
    if (n === "00000000") return fail("number_zero", "number");
    return ok(n);
  }

  /* verify.validate_digital_number */
  function validateDigitalNumber(raw) {
    var n = raw.trim();
    if (!isDigits(n) || n.length !== 20) return fail("number_format_digital", "number");
    /* digits 3-4: a province or planned-city code (the cities' values are not published):
     * only 0x is wrong, as on the server */
    if (n.charAt(2) === "0") return fail("number_province", "number");
    return ok(n);
  }

  /* verify.parse_date: YYYY-MM-DD or YYYYMMDD, a real calendar date */
  function parseDate(raw) {
    var text = raw.trim();
    if (text.length === 10 && text[4] === text[7] && "-/.".indexOf(text[4]) >= 0) {
      text = text.slice(0, 4) + text.slice(5, 7) + text.slice(8);
    }
    if (text.length !== 8 || !isDigits(text)) return fail("date_format", "date");
    var y = +text.slice(0, 4), m = +text.slice(4, 6), d = +text.slice(6, 8);
    var probe = new Date(Date.UTC(y, m - 1, d));
    if (y < 1 || m < 1 || m > 12 || d < 1 || probe.getUTCFullYear() !== y ||
        probe.getUTCMonth() !== m - 1 || probe.getUTCDate() !== d) return fail("date_invalid", "date");
    return ok(text.slice(0, 4) + "-" + text.slice(4, 6) + "-" + text.slice(6, 8));
  }

  /* Today in the service's time zone (China time by default), as YYYY-MM-DD. */
  function today(timeZone) {
    try {
      return new Intl.DateTimeFormat("en-CA", {
        timeZone: timeZone || "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit"
      }).format(new Date());
    } catch (e) {
      return new Date().toISOString().slice(0, 10);
    }
  }

  function yearsBefore(iso, years) {
    var y = +iso.slice(0, 4) - years, md = iso.slice(5);
    var yy = String(y).padStart(4, "0");
    if (md === "02-29") return yy + "-02-28";
    return yy + "-" + md;
  }

  /* verify.check_issue_date (ISO strings compare like dates) */
  function checkIssueDate(iso, opts) {
    var now = opts.today;
    if (iso > now) return fail("date_future", "date");
    if (iso < yearsBefore(now, opts.windowYears)) return fail("date_too_old", "date");
    if (iso === now && !opts.sameDay) return fail("issued_today", "date");
    return ok(iso);
  }

  /* verify.validate_check6 */
  function validateCheck6(raw) {
    var text = raw.trim();
    if (text.length > 6 && isDigits(text)) text = text.slice(-6);
    if (text.length !== 6 || !isDigits(text)) return fail("check6_format", "check6");
    return ok(text);
  }

  /* verify.parse_amount */
  function parseAmount(raw, field) {
    var text = raw.trim();
    if (!AMOUNT.test(text) || text.charAt(text.length - 1) === ".") return fail("amount_format", field);
    return ok(text);
  }

  /* What the form should ask for, given what has been typed so far. */
  function formKind(codeRaw, numberRaw) {
    var code = toAscii(codeRaw).trim(), number = toAscii(numberRaw).trim();
    if (code) {
      var kind = deriveKind(code);
      return { kind: kind, secret: kind ? secretFor(kind) : null, region: taxRegion(regionDigits(code)) };
    }
    if (number.length > 8 || (number.length === 20)) {
      return { kind: DIGITAL, secret: "total", region: taxRegion(number.slice(2, 4) + "00") };
    }
    return { kind: null, secret: null, region: null };
  }

  /* verify.query_from_fields: every error at once (the server stops at the first). */
  function validateFields(f, opts) {
    var errors = [];
    var out = {};
    f = { code: toAscii(f.code), number: toAscii(f.number), date: toAscii(f.date), secret: toAscii(f.secret) };
    var code = f.code.trim(), number = f.number.trim(), kind = null, r;
    if (code) {
      r = validateCode(code);
      if (r.error) errors.push(r); else { out.code = r.value; kind = deriveKind(code); }
      if (!number) errors.push(fail("number_missing", "number"));
      else { r = validateLegacyNumber(number); if (r.error) errors.push(r); else out.number = r.value; }
    } else if (!number) {
      errors.push(fail("number_missing", "number"));
    } else if (number.length === 20) {
      kind = DIGITAL;
      r = validateDigitalNumber(number);
      if (r.error) errors.push(r); else out.number = r.value;
    } else {
      errors.push(fail("code_missing", "code"));
    }
    if (!(f.date || "").trim()) {
      errors.push(fail("date_missing", "date"));
    } else {
      r = parseDate(f.date);
      if (!r.error && opts) r = checkIssueDate(r.value, opts);
      if (r.error) errors.push(r); else out.date = r.value;
    }
    var secret = kind ? secretFor(kind) : null;
    var text = (f.secret || "").trim();
    if (secret === "check6") {
      if (!text) errors.push(fail("check6_missing", "check6"));
      else { r = validateCheck6(text); if (r.error) errors.push(r); else out.check6 = r.value; }
    } else if (secret === "amount") {
      if (!text) errors.push(fail("amount_missing", "amount"));
      else { r = parseAmount(text, "amount"); if (r.error) errors.push(r); else out.amount = r.value; }
    } else if (secret === "total") {
      if (!text) errors.push(fail("total_missing", "total"));
      else { r = parseAmount(text, "total"); if (r.error) errors.push(r); else out.total = r.value; }
    }
    return { kind: kind, secret: secret, errors: errors, query: out };
  }

  F.rules = {
    DIGITAL: DIGITAL,
    toAscii: toAscii,
    deriveKind: deriveKind,
    secretFor: secretFor,
    kindName: kindName,
    regionDigits: regionDigits,
    taxRegion: taxRegion,
    regionName: regionName,
    validateCode: validateCode,
    validateLegacyNumber: validateLegacyNumber,
    validateDigitalNumber: validateDigitalNumber,
    parseDate: parseDate,
    checkIssueDate: checkIssueDate,
    validateCheck6: validateCheck6,
    parseAmount: parseAmount,
    formKind: formKind,
    validateFields: validateFields,
    today: today,
    yearsBefore: yearsBefore
  };
})();
