/* The answer: a result card per invoice that a person understands at a glance.
 * Built with DOM calls only (never innerHTML: the data comes from outside and the page
 * enforces Trusted Types). */
(function () {
  "use strict";
  var F = (window.Fapiao = window.Fapiao || {});
  var t = function (k, a) { return F.i18n.t(k, a); };
  var SVG = "http://www.w3.org/2000/svg";

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === "text") el.textContent = v;
        else if (k === "cls") el.className = v;
        else el.setAttribute(k, v === true ? "" : v);
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) c.forEach(function (x) { if (x) el.appendChild(x); });
      else el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return el;
  }

  var ICONS = {
    ok: ["M5 12.5l4.5 4.5L19 7.5"],
    bad: ["M7 7l10 10M17 7L7 17"],
    warn: ["M12 6.5v7", "M12 17.5h.01"],
    clock: ["M12 7v5l3.5 2", "M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18"],
    info: ["M12 7.5h.01", "M12 11v6"]
  };
  function icon(name) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    ICONS[name].forEach(function (d) {
      var p = document.createElementNS(SVG, "path");
      p.setAttribute("d", d);
      svg.appendChild(p);
    });
    return h("span", { cls: "verdict-icon" }, svg);
  }

  /* ---- formatting ---- */
  function money(v) {
    if (v === null || v === undefined || v === "") return "—";
    var s = String(v), neg = s.charAt(0) === "-";
    if (neg) s = s.slice(1);
    var parts = s.split("."), int = parts[0], dec = (parts[1] || "").padEnd(2, "0").slice(0, 2);
    int = int.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (neg ? "-" : "") + "¥" + int + "." + dec;
  }

  var CN_DIGITS = "零壹贰叁肆伍陆柒捌玖", CN_SMALL = ["", "拾", "佰", "仟"], CN_BIG = ["", "万", "亿", "万亿"];
  /* 价税合计（大写）: the amount in Chinese capital numerals, as printed on invoices. */
  function moneyWords(v) {
    var s = String(v === undefined || v === null ? "" : v).trim();
    if (!/^-?\d{1,15}(\.\d{0,2})?$/.test(s)) return "";
    var neg = s.charAt(0) === "-";
    if (neg) s = s.slice(1);
    var parts = s.split("."), int = parts[0].replace(/^0+(?=\d)/, ""), dec = (parts[1] || "").padEnd(2, "0");
    var out = "", zeros = 0;
    for (var i = 0; i < int.length; i++) {
      var d = +int.charAt(i), pos = int.length - 1 - i, q = pos % 4, g = (pos / 4) | 0;
      if (d === 0) zeros++;
      else { if (zeros > 0 && out) out += "零"; zeros = 0; out += CN_DIGITS.charAt(d) + CN_SMALL[q]; }
      if (q === 0 && g > 0 && /[1-9]/.test(int.slice(Math.max(0, i - 3), i + 1))) out += CN_BIG[g];
    }
    var jiao = +dec.charAt(0), fen = +dec.charAt(1);
    if (out) out += "元";
    if (!jiao && !fen) out = (out || "零元") + "整";
    else {
      if (jiao) out += CN_DIGITS.charAt(jiao) + "角";
      if (fen) out += (!jiao && out ? "零" : "") + CN_DIGITS.charAt(fen) + "分";
    }
    return (neg ? "负" : "") + out;
  }

  function rate(v) {
    if (v === null || v === undefined || v === "") return "—";
    var n = Number(v);
    if (!isFinite(n)) return String(v);
    if (n === 0) return F.i18n.lang() === "en" ? "0% / exempt" : "0%（免税）";
    return (Math.round(n * 10000) / 100) + "%";
  }

  function date(iso) {
    if (!iso) return "—";
    var m = /^(\d{4})-?(\d{2})-?(\d{2})/.exec(String(iso));
    if (!m) return String(iso);
    return F.i18n.lang() === "en" ? m[1] + "-" + m[2] + "-" + m[3] : m[1] + "年" + m[2] + "月" + m[3] + "日";
  }

  function dateTime(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso || "");
    try {
      var parts = new Intl.DateTimeFormat("en-CA", {
        timeZone: document.body.dataset.timezone || "Asia/Shanghai",
        year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23"
      }).formatToParts(d);
      var p = {};
      parts.forEach(function (x) { p[x.type] = x.value; });
      return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute;
    } catch (e) {
      return d.toISOString().slice(0, 16).replace("T", " ");
    }
  }

  /* ---- what the result means ---- */
  function verdict(body, secret) {
    var code = body.code, status = body.status;
    var secretText = t("secret_" + (secret || "any"));
    if (code === "001") {
      if (status === "voided") return { tone: "bad", icon: "bad", key: "voided" };
      if (status === "red_reversed") return { tone: "bad", icon: "bad", key: "red" };
      if (status === "partly_red_reversed") return { tone: "warn", icon: "warn", key: "partred" };
      if (status === "abnormal" || (body.invoice && body.invoice.risk_level === "02")) {
        return { tone: "bad", icon: "warn", key: "abnormal" };
      }
      return { tone: "ok", icon: "ok", key: "ok",
        extra: body.invoice && body.invoice.risk_level === "03" ? t("r_suspicious_next") : null };
    }
    if (code === "006") return { tone: "bad", icon: "bad", key: "mismatch", args: { secret: secretText } };
    if (code === "009") return { tone: "bad", icon: "bad", key: "notfound" };
    if (code === "002") return { tone: "warn", icon: "clock", key: "limit" };
    if (code === "rqerr") return { tone: "warn", icon: "clock", key: "today" };
    if (code === "003") return { tone: "warn", icon: "clock", key: "frequent" };
    if (code === "004") return { tone: "warn", icon: "clock", key: "busy" };
    if (code === "005") return { tone: "info", icon: "info", key: "invalid" };
    return { tone: "info", icon: "warn", key: "error" };
  }

  function statusLabel(body) {
    if (F.i18n.lang() !== "en" && body.status_label) return body.status_label;
    return {
      normal: F.i18n.lang() === "en" ? "Normal" : "正常",
      voided: F.i18n.lang() === "en" ? "Voided" : "作废",
      red_reversed: F.i18n.lang() === "en" ? "Fully red-reversed" : "已全额红冲",
      partly_red_reversed: F.i18n.lang() === "en" ? "Partly red-reversed" : "已部分红冲",
      abnormal: F.i18n.lang() === "en" ? "Abnormal voucher" : "异常凭证"
    }[body.status] || "";
  }

  function errorText(err) {
    if (!err) return "";
    if (F.i18n.lang() === "en" && err.code && err.code !== t(err.code)) return t(err.code);
    return err.message || (err.code ? t(err.code) : "");
  }

  /* ---- pieces of the card ---- */
  function fact(label, value, mono) {
    if (value === null || value === undefined || value === "") return null;
    return h("div", null, h("dt", { text: label }), h("dd", { cls: mono ? "mono" : null, text: String(value) }));
  }

  function party(role, p) {
    p = p || {};
    var addr = [p.address, p.phone].filter(Boolean).join(" ");
    var bank = [p.bank, p.account].filter(Boolean).join(" ");
    return h("section", { cls: "party", "aria-label": t(role) },
      h("span", { cls: "party-role", text: t(role) }),
      h("p", { cls: "party-name", text: p.name || "—" }),
      h("dl", null,
        fact(t("p_tax_id"), p.tax_id, true),
        fact(t("p_addr"), addr),
        fact(t("p_bank"), bank)));
  }

  function items(list) {
    var cards = h("ul", { cls: "items" }, list.map(function (it) {
      var qty = it.quantity === null || it.quantity === undefined ? "" : String(it.quantity);
      var meta = qty || it.unit_price
        ? t("i_meta", { qty: qty, unit: it.unit || "", price: it.unit_price ? money(it.unit_price) : "—",
                        rate: rate(it.tax_rate), tax: money(it.tax) })
        : t("i_rate") + " " + rate(it.tax_rate) + " · " + t("i_tax") + " " + money(it.tax);
      return h("li", { cls: "item" },
        h("div", { cls: "item-head" }, h("span", { text: it.name + (it.spec ? "（" + it.spec + "）" : "") }),
          h("span", { cls: "v", text: money(it.amount) })),
        h("p", { cls: "item-meta", text: meta }));
    }));
    var heads = ["i_name", "i_spec", "i_unit", "i_qty", "i_price", "i_amount", "i_rate", "i_tax"];
    var table = h("table", { cls: "items-table" },
      h("thead", null, h("tr", null, heads.map(function (k, i) {
        return h("th", { scope: "col", cls: i >= 3 ? "num" : null, text: t(k) });
      }))),
      h("tbody", null, list.map(function (it) {
        return h("tr", null,
          h("td", { text: it.name || "" }), h("td", { text: it.spec || "" }), h("td", { text: it.unit || "" }),
          h("td", { cls: "num", text: it.quantity === null || it.quantity === undefined ? "" : String(it.quantity) }),
          h("td", { cls: "num", text: it.unit_price ? money(it.unit_price) : "" }),
          h("td", { cls: "num", text: money(it.amount) }),
          h("td", { cls: "num", text: rate(it.tax_rate) }),
          h("td", { cls: "num", text: money(it.tax) }));
      })));
    return [cards, table];
  }

  var EVENT_TONE = { red_issued: "ev-bad", voided: "ev-bad", flagged_abnormal: "ev-bad",
    red_confirmation_requested: "ev-warn", red_confirmation_confirmed: "ev-warn", verified: "ev-muted" };

  function timeline(flow) {
    if (!flow || !flow.length) return h("p", { cls: "hint", text: t("flow_empty") });
    return h("ol", { cls: "timeline" }, flow.map(function (ev) {
      var label = F.i18n.lang() === "en" || !ev.label ? t("ev_" + ev.kind) : ev.label;
      var details = [];
      var d = ev.detail || {};
      if (d.scope) details.push(t("scope_" + d.scope));
      if (d.amount) details.push(money(d.amount));
      var channel = ev.channel || d.channel;
      if (channel) details.push(t("via", { channel: F.i18n.has("ch_" + channel) ? t("ch_" + channel) : channel }));
      if (F.i18n.lang() !== "en" && d.reason_zh) details.push(d.reason_zh);
      else if (d.reason) details.push(String(d.reason).replace(/_/g, " "));
      return h("li", { cls: EVENT_TONE[ev.kind] || null },
        h("span", { cls: "ev-label", text: label }), " ",
        h("time", { cls: "ev-time", datetime: ev.time, text: dateTime(ev.time) }),
        details.length ? h("p", { cls: "ev-detail", text: details.join(" · ") }) : null);
    }));
  }

  function section(titleKey, id) {
    var args = Array.prototype.slice.call(arguments, 2);
    return h.apply(null, ["section", { cls: "section", "aria-labelledby": id },
      h("h3", { id: id, text: t(titleKey) })].concat(args));
  }

  var serial = 0;
  function card(body, ctx) {
    ctx = ctx || {};
    var v = verdict(body, ctx.secret);
    var id = "r" + (++serial);
    var inv = body.invoice;
    var label = statusLabel(body);
    var sub = [];
    if (label) sub.push(h("span", { text: t("status_label") + t("colon") + label + " · " }));
    sub.push(h("span", { cls: "nowrap" }, t("result_code") + " ", h("span", { cls: "code", text: body.code || "—" })));

    var bodyText = t("r_" + v.key + "_body", v.args);
    var advice = h("div", { cls: "advice" },
      h("p", { text: bodyText }),
      body.error && (body.code === "005" || body.code === "rqerr") && errorText(body.error)
        ? h("p", { cls: "error-detail", text: errorText(body.error) }) : null,
      h("p", { cls: "next" }, h("strong", { text: F.i18n.lang() === "en" ? "What to do: " : "建议：" }),
        t("r_" + v.key + "_next", v.args)),
      v.extra ? h("p", { cls: "next", text: v.extra }) : null);

    var el = h("article", { cls: "result tone-" + v.tone, "aria-labelledby": id + "-t",
                            "data-code": body.code || "", "data-status": body.status || "" },
      h("header", { cls: "verdict" }, icon(v.icon),
        h("div", null, h("h2", { id: id + "-t", cls: "verdict-title", tabindex: "-1", text: t("r_" + v.key + "_title", v.args) }),
          h("p", { cls: "verdict-sub" }, sub))),
      advice);

    if (inv) {
      var kindLabel = inv.kind_name && F.i18n.lang() !== "en" ? inv.kind_name : F.rules.kindName(inv.kind, F.i18n.lang());
      el.appendChild(section("sec_invoice", id + "-i", h("dl", { cls: "facts" },
        fact(t("f_kind"), kindLabel),
        fact(t("f_code"), inv.code, true),
        fact(t("f_number"), inv.number, true),
        fact(t("f_date"), date(inv.issue_date)),
        fact(t("f_check"), inv.check_code, true),
        fact(t("f_machine"), inv.machine_no, true),
        inv.risk_level && inv.risk_level !== "01" ? fact(t("f_risk"), t("risk_" + inv.risk_level)) : null)));
      var words = moneyWords(inv.total);
      el.appendChild(section("sec_amounts", id + "-a", h("div", { cls: "amounts" },
        h("div", { cls: "amount" }, h("span", { cls: "k", text: t("a_amount") }), h("span", { cls: "v", text: money(inv.amount) })),
        h("div", { cls: "amount" }, h("span", { cls: "k", text: t("a_tax") }), h("span", { cls: "v", text: money(inv.tax) })),
        h("div", { cls: "amount total" }, h("span", { cls: "k", text: t("a_total") }),
          h("span", { cls: "v", text: money(inv.total) }),
          words ? h("span", { cls: "words", lang: "zh-CN", text: t("a_words", { words: words }) }) : null))));
      el.appendChild(section("sec_parties", id + "-p", h("div", { cls: "parties" },
        party("seller", inv.seller), party("buyer", inv.buyer))));
      if (inv.items && inv.items.length) el.appendChild(section("sec_items", id + "-l", items(inv.items)));
      if (inv.remarks) el.appendChild(section("sec_remarks", id + "-m", h("p", { cls: "remarks", text: inv.remarks })));
    }
    if (typeof body.verify_count === "number" && body.verify_count > 0) {
      el.appendChild(section("sec_count", id + "-c", h("p", { cls: "count" }, countText(body.verify_count))));
    }
    if (inv || (body.flow && body.flow.length)) el.appendChild(section("sec_flow", id + "-f", timeline(body.flow)));
    return el;
  }

  function countText(n) {
    var text = t("count_text", { n: n }) + t("count_limit");
    var m = /^(.*?)(\d+)(.*)$/.exec(text);
    var frag = document.createDocumentFragment();
    if (!m) { frag.appendChild(document.createTextNode(text)); return frag; }
    frag.appendChild(document.createTextNode(m[1]));
    frag.appendChild(h("strong", { text: m[2] }));
    frag.appendChild(document.createTextNode(m[3]));
    return frag;
  }

  /* What the user can do next: correct the typed details (when they may be wrong),
   * verify another invoice, print an answer that shows an invoice. */
  function actions(opts) {
    opts = opts || {};
    return h("div", { cls: "actions" },
      opts.edit ? h("button", { type: "button", cls: "btn btn-primary", "data-action": "edit",
                                "data-field": opts.edit, text: t("edit") }) : null,
      opts.typeTab ? h("button", { type: "button", cls: "btn btn-primary", "data-action": "type",
                                   text: t("tab_type") }) : null,
      h("button", { type: "button", cls: opts.edit || opts.typeTab ? "btn btn-ghost" : "btn btn-primary",
                    "data-action": "again", text: t("again") }),
      opts.print ? h("button", { type: "button", cls: "btn btn-ghost", "data-action": "print", text: t("print") }) : null);
  }

  var EDIT_FIELD = { "006": "secret", "009": "number", "005": "error", "rqerr": "date" };
  function editField(state) {
    var code = state.body && state.body.code;
    if (!state.fromForm || !EDIT_FIELD[code]) return null;
    if (EDIT_FIELD[code] !== "error") return EDIT_FIELD[code];
    var f = state.body.error && state.body.error.field;
    return { code: "code", number: "number", date: "date", check6: "secret", amount: "secret", total: "secret" }[f] || "number";
  }

  function uploadError(err) {
    var code = (err && err.code) || "generic";
    var key = F.i18n.has("up_" + code) ? "up_" + code : "up_generic";
    var el = h("article", { cls: "result tone-warn", "aria-labelledby": "up-t", "data-code": "upload", "data-error": code },
      h("header", { cls: "verdict" }, icon("warn"),
        h("div", null, h("h2", { id: "up-t", cls: "verdict-title", tabindex: "-1", text: t("up_title") }),
          h("p", { cls: "verdict-sub" }, h("span", { cls: "nowrap" }, t("result_code") + " ", h("span", { cls: "code", text: code }))))),
      h("div", { cls: "advice" }, h("p", { text: t(key) }),
        h("p", { cls: "next" }, h("strong", { text: F.i18n.lang() === "en" ? "What to do: " : "建议：" }), t("up_next"))));
    el.appendChild(actions({ typeTab: true }));
    return el;
  }

  /* Render one state into the result area: {type: "verify"|"image"|"upload_error"|"offline", ...}. */
  function render(area, state) {
    area.replaceChildren();
    if (state.type === "verify") {
      var c = card(state.body, state);
      c.appendChild(actions({ edit: editField(state), print: !!state.body.invoice }));
      area.appendChild(c);
    } else if (state.type === "image") {
      var body = state.body || {};
      var results = body.results || [];
      if (!results.length) {
        area.appendChild(uploadError(body.error || { code: "no_invoice_found" }));
      } else {
        var src = "up_source_" + (body.source || "qr");
        area.appendChild(h("p", { cls: "result-summary", role: "note" },
          (results.length === 1 ? t("up_found_one") : t("up_found", { n: results.length })) +
          (F.i18n.has(src) ? " · " + t(src) : "")));
        results.forEach(function (r, i) {
          var el = card(r, state);
          if (i === results.length - 1) el.appendChild(actions({ print: results.some(function (x) { return x.invoice; }) }));
          area.appendChild(el);
        });
      }
    } else if (state.type === "upload_error") {
      area.appendChild(uploadError(state.error));
    } else {
      var off = card({ code: "offline" }, state);
      off.querySelector(".verdict-title").textContent = t("r_offline_title");
      off.querySelector(".advice").replaceChildren(h("p", { text: t("r_offline_body") }),
        h("p", { cls: "next", text: t("r_offline_next") }));
      off.querySelector(".verdict-sub").replaceChildren();
      off.appendChild(actions());
      area.appendChild(off);
    }
    area.hidden = false;
    return area.querySelector(".verdict-title");
  }

  F.result = { render: render, money: money, moneyWords: moneyWords, verdict: verdict };
})();
