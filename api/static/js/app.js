/* The page's behaviour: tabs, the language switch, the form that follows the invoice kind,
 * camera and file input, the calls to /api/v1/verify and /api/v1/verify/image. */
(function () {
  "use strict";
  var F = window.Fapiao;
  var t = F.i18n.t, R = F.rules;
  var $ = function (id) { return document.getElementById(id); };
  var body = document.body.dataset;
  var MAX_MB = 20;
  var opts = {
    windowYears: parseInt(body.windowYears, 10) || 5,
    sameDay: body.sameDay !== "0",
    timeZone: body.timezone || "Asia/Shanghai"
  };
  var state = { last: null, fieldErrors: {}, submitted: false, secret: null, kind: null };

  F.i18n.setVars({ limit: body.dailyLimit || "5", years: opts.windowYears, max_mb: MAX_MB });

  /* ---- language ---- */
  function onLang() {
    updateKind(false);
    Object.keys(state.fieldErrors).forEach(function (f) { showFieldError(f, state.fieldErrors[f]); });
    if (!$("error-summary").hidden) showSummary(false);
    if (state.last) F.result.render($("result"), state.last);
  }
  document.addEventListener("fapiao:lang", onLang);
  $("lang-toggle").addEventListener("click", function () {
    F.i18n.setLang(F.i18n.lang() === "en" ? "zh" : "en", true);
  });

  /* ---- tabs (WAI-ARIA tabs pattern: arrows move, Home/End jump) ---- */
  var tabs = [$("tab-scan"), $("tab-type")];
  function selectTab(tab, focus) {
    tabs.forEach(function (x) {
      var on = x === tab;
      x.setAttribute("aria-selected", on ? "true" : "false");
      x.tabIndex = on ? 0 : -1;
      $(x.getAttribute("aria-controls")).hidden = !on;
    });
    if (tab.id !== "tab-scan") stopCamera();
    if (focus) tab.focus();
  }
  tabs.forEach(function (tab, i) {
    tab.addEventListener("click", function () { selectTab(tab, false); });
    tab.addEventListener("keydown", function (e) {
      var j = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (j === undefined) return;
      e.preventDefault();
      selectTab(tabs[(j + tabs.length) % tabs.length], true);
    });
  });

  /* ---- the form follows the kind derived from the code ---- */
  var FIELD_INPUT = { code: "f-code", number: "f-number", date: "f-date", check6: "f-secret", amount: "f-secret", total: "f-secret" };
  var FIELD_ERROR = { code: "e-code", number: "e-number", date: "e-date", check6: "e-secret", amount: "e-secret", total: "e-secret" };

  function updateKind(userTyping) {
    var k = R.formKind($("f-code").value, $("f-number").value);
    var chip = $("kind-chip"), lang = F.i18n.lang();
    var code = $("f-code").value.trim();
    if (k.kind === R.DIGITAL) {
      chip.hidden = false; chip.className = "kind-chip"; chip.textContent = t("kind_digital");
    } else if (k.kind) {
      var region = R.regionName(k.region, lang);
      var name = R.kindName(k.kind, lang);
      chip.hidden = false; chip.className = "kind-chip";
      chip.textContent = t("kind_detected", { kind: region ? t("kind_region", { kind: name, region: region }) : name });
    } else if (/^\d{10}$|^\d{12}$/.test(code)) {
      chip.hidden = false; chip.className = "kind-chip is-unknown"; chip.textContent = t("kind_unknown");
    } else {
      chip.hidden = true;
    }
    var secret = k.secret || "check6";
    var suffix = secret === "total" && (k.kind === "02" || k.kind === "15") ? "_" + k.kind : "";
    var input = $("f-secret");
    if (state.secret !== secret && userTyping && input.value) clearFieldError(state.secret);
    state.secret = secret; state.kind = k.kind;
    input.name = secret;
    input.inputMode = secret === "check6" ? "numeric" : "decimal";
    input.maxLength = secret === "check6" ? 32 : 17;
    input.placeholder = secret === "check6" ? "" : "0.00";
    $("l-secret").textContent = t("label_" + secret + suffix);
    $("h-secret").textContent = t("help_" + secret + suffix);
  }

  function showFieldError(field, code) {
    var input = $(FIELD_INPUT[field]), err = $(FIELD_ERROR[field]);
    if (!input || !err) return;
    state.fieldErrors[field] = code;
    err.textContent = typeof code === "string" ? t(code) : F.i18n.lang() === "en" && F.i18n.has(code.code) ? t(code.code) : code.message;
    err.hidden = false;
    input.setAttribute("aria-invalid", "true");
  }

  function clearFieldError(field) {
    if (!field) return;
    var input = $(FIELD_INPUT[field]), err = $(FIELD_ERROR[field]);
    delete state.fieldErrors[field];
    if (err) { err.hidden = true; err.textContent = ""; }
    if (input) input.removeAttribute("aria-invalid");
  }

  function clearAllErrors() {
    ["code", "number", "date", "check6"].forEach(clearFieldError);
    state.fieldErrors = {};
    $("error-summary").hidden = true;
  }

  function formValues() {
    return { code: $("f-code").value, number: $("f-number").value, date: $("f-date").value, secret: $("f-secret").value };
  }

  function dateOpts() {
    return { today: R.today(opts.timeZone), windowYears: opts.windowYears, sameDay: opts.sameDay };
  }

  /* Re-check one field when the user leaves it (or edits one already marked wrong). */
  function recheck(field) {
    var v = R.validateFields(formValues(), dateOpts());
    var mine = field === "secret" ? ["check6", "amount", "total"] : [field];
    var found = null;
    v.errors.forEach(function (e) { if (!found && mine.indexOf(e.field) >= 0) found = e; });
    var key = field === "secret" ? state.secret : field;
    var blank = !$(FIELD_INPUT[key]).value.trim();
    if (found && !(blank && !state.submitted)) showFieldError(key, found.error);
    else clearFieldError(key);
    if (state.submitted && !$("error-summary").hidden) showSummary(false);
  }

  function showSummary(focus) {
    var codes = Object.keys(state.fieldErrors);
    var box = $("error-summary");
    if (!codes.length) { box.hidden = true; return; }
    box.replaceChildren();
    var h = document.createElement("h2");
    h.textContent = t("errors_title", { n: codes.length });
    var ul = document.createElement("ul");
    codes.forEach(function (f) {
      var li = document.createElement("li"), a = document.createElement("a");
      a.href = "#" + FIELD_INPUT[f];
      a.textContent = $(FIELD_ERROR[f]).textContent;
      a.addEventListener("click", function (e) { e.preventDefault(); $(FIELD_INPUT[f]).focus(); });
      li.appendChild(a); ul.appendChild(li);
    });
    box.appendChild(h); box.appendChild(ul);
    box.hidden = false;
    if (focus) box.focus();
  }

  ["f-code", "f-number"].forEach(function (id) {
    $(id).addEventListener("input", function () { updateKind(true); });
  });
  [["f-code", "code"], ["f-number", "number"], ["f-date", "date"], ["f-secret", "secret"]].forEach(function (p) {
    var input = $(p[0]);
    input.addEventListener("blur", function () { if (input.value.trim() || state.submitted) recheck(p[1]); });
    input.addEventListener("input", function () {
      if (input.getAttribute("aria-invalid") === "true") recheck(p[1]);
    });
  });

  /* 20260330 -> 2026-03-30 once the user leaves the field, when it is a real date. */
  $("f-date").addEventListener("blur", function () {
    var r = R.parseDate(R.toAscii($("f-date").value));
    if (!r.error) $("f-date").value = r.value;
  });

  $("manual-form").addEventListener("submit", function (e) {
    e.preventDefault();
    state.submitted = true;
    clearAllErrors();
    updateKind(false);
    var v = R.validateFields(formValues(), dateOpts());
    if (v.errors.length) {
      v.errors.forEach(function (err) { if (!state.fieldErrors[err.field]) showFieldError(err.field, err.error); });
      showSummary(true);
      return;
    }
    var q = v.query;
    var payload = { code: q.code || "", number: q.number, date: q.date };
    if (q.check6) payload.check6 = q.check6;
    if (q.amount) payload.amount = q.amount;
    if (q.total) payload.total = q.total;
    verify(payload, { secret: v.secret, fromForm: true });
  });

  /* ---- talking to the service ---- */
  function busy(on, key) {
    $("busy").hidden = !on;
    $("busy-text").textContent = t(key || "busy");
    $("submit-manual").disabled = on;
    $("result").setAttribute("aria-busy", on ? "true" : "false");
    if (on) $("result").hidden = true;
  }

  function show(next) {
    state.last = next;
    var title = F.result.render($("result"), next);
    if (title) {
      title.focus({ preventScroll: true });
      $("result").scrollIntoView({ behavior: window.matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth", block: "start" });
    }
  }

  /* A body that is not a verify result (a proxy's 429, a crash page) still gets a clear answer. */
  function fallbackBody(status, parsed) {
    var code = status === 429 ? "003" : status === 503 ? "004" : status >= 500 ? "015" : "005";
    return { code: code, status: null, invoice: null, flow: [], error: parsed && parsed.error ? parsed.error : null };
  }

  function readJson(res) {
    return res.text().then(function (text) {
      try { return JSON.parse(text); } catch (e) { return null; }
    });
  }

  function verify(payload, ctx) {
    busy(true, "busy");
    return fetch("/api/v1/verify", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-Fapiao-Channel": "web" },
      body: JSON.stringify(payload),
      credentials: "same-origin"
    }).then(function (res) {
      return readJson(res).then(function (data) {
        var bodyData = data && typeof data.code === "string" ? data : fallbackBody(res.status, data);
        if (ctx.fromForm && bodyData.error && bodyData.error.field && FIELD_INPUT[bodyData.error.field]) {
          showFieldError(bodyData.error.field, bodyData.error);
        }
        busy(false);
        show({ type: "verify", body: bodyData, secret: ctx.secret, fromForm: !!ctx.fromForm });
      });
    }).catch(function () {
      busy(false);
      show({ type: "offline" });
    });
  }

  function upload(file) {
    if (!file) return;
    if (file.size === 0) { show({ type: "upload_error", error: { code: "empty_file" } }); return; }
    if (file.size > MAX_MB * 1024 * 1024) { show({ type: "upload_error", error: { code: "file_too_large" } }); return; }
    var form = new FormData();
    form.append("file", file, file.name || "upload");
    busy(true, "busy_upload");
    $("busy-text").textContent = t("busy_upload") + (file.name ? "（" + file.name + "）" : "");
    fetch("/api/v1/verify/image", { method: "POST", body: form, headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (res) {
        return readJson(res).then(function (data) {
          busy(false);
          if (data && Array.isArray(data.results)) show({ type: "image", body: data });
          else if (data && data.error && (data.code === "005" || !data.code)) show({ type: "upload_error", error: data.error });
          else if (data && typeof data.code === "string") show({ type: "verify", body: data });
          else if (res.status === 413) show({ type: "upload_error", error: { code: "file_too_large" } });
          else if (res.status === 415) show({ type: "upload_error", error: { code: "unsupported_type" } });
          else if (res.status === 429 || res.status >= 500) show({ type: "verify", body: fallbackBody(res.status, data) });
          else show({ type: "upload_error", error: { code: "generic" } });
        });
      })
      .catch(function () { busy(false); show({ type: "offline" }); });
  }

  ["file-photo", "file-any"].forEach(function (id) {
    $(id).addEventListener("change", function (e) {
      var file = e.target.files && e.target.files[0];
      e.target.value = "";
      stopCamera();
      upload(file);
    });
  });

  /* ---- camera ---- */
  function note(key) {
    var n = $("camera-note");
    if (!key) { n.hidden = true; n.textContent = ""; return; }
    n.textContent = t(key); n.hidden = false;
  }

  function stopCamera() {
    F.scan.stop();
    $("camera").hidden = true;
    $("camera-start").hidden = false;
  }

  $("camera-start").addEventListener("click", function () {
    if (!F.scan.available()) { note("camera_unavailable"); return; }
    note(null);
    $("camera").hidden = false;
    $("camera-start").hidden = true;
    $("camera-stop").focus();
    F.scan.start($("camera-video"), function (payload) {
      stopCamera();
      if (navigator.vibrate) navigator.vibrate(60);
      verify({ qr: payload }, { secret: null });
    }).then(function (how) {
      $("camera").dataset.decoder = how;
    }, function (err) {
      stopCamera();
      note(err && (err.name === "NotAllowedError" || err.name === "SecurityError") ? "camera_denied" : "camera_failed");
      $("camera-start").focus();
    });
  });
  $("camera-stop").addEventListener("click", function () { stopCamera(); $("camera-start").focus(); });
  document.addEventListener("visibilitychange", function () { if (document.hidden) stopCamera(); });

  /* ---- result actions ---- */
  $("result").addEventListener("click", function (e) {
    var action = e.target.closest("[data-action]");
    if (!action) return;
    if (action.dataset.action === "print") { window.print(); return; }
    if (action.dataset.action === "type") {
      selectTab($("tab-type"), false);
      $("f-code").focus();
      $("panel-type").scrollIntoView({ block: "start" });
      return;
    }
    if (action.dataset.action === "edit") {
      var input = $({ code: "f-code", number: "f-number", date: "f-date", secret: "f-secret" }[action.dataset.field] || "f-number");
      input.focus();
      input.select();
      input.scrollIntoView({ block: "center" });
      return;
    }
    state.last = null;
    state.submitted = false;
    $("result").hidden = true;
    $("result").replaceChildren();
    $("manual-form").reset();
    clearAllErrors();
    updateKind(false);
    window.scrollTo(0, 0);
    var selected = tabs.filter(function (x) { return x.getAttribute("aria-selected") === "true"; })[0];
    if (selected && selected.id === "tab-type") $("f-code").focus(); else if (selected) selected.focus();
  });

  /* ---- start ---- */
  F.i18n.setLang(F.i18n.initialLang(), false);
  if (location.hash === "#type") selectTab($("tab-type"), false);
  /* A link can carry a QR payload (/?qr=01,10,...): verify it at once. */
  var linked = new URLSearchParams(location.search).get("qr");
  if (linked && linked.length <= 512) verify({ qr: linked }, { secret: null });
  document.documentElement.classList.add("js-ready");
  document.body.setAttribute("data-ready", "1");
})();
