/* Live camera scanning: BarcodeDetector where the browser has it, else the vendored
 * jsQR decoder in a worker on downscaled frames. Calls onFound(payload) once. */
(function () {
  "use strict";
  var F = (window.Fapiao = window.Fapiao || {});

  var INVOICE_QR = /^[\s\ufeff]*0\d[,，]/;
  var MAX_SIDE = 800;
  var stream = null, running = false, detector = null, worker = null, policy = null;
  var canvas = null, ctx = null, pending = null, seq = 0, timer = null;

  function available() {
    return !!(window.isSecureContext && navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  }

  /* Trusted Types: the page may only create workers from its own /static/ files. */
  function scriptURL(url) {
    if (!window.trustedTypes || !window.trustedTypes.createPolicy) return url;
    if (!policy) {
      policy = window.trustedTypes.createPolicy("fapiao", {
        createScriptURL: function (u) {
          if (/^\/static\/[A-Za-z0-9_./-]+(\?v=[0-9a-f]+)?$/.test(u)) return u;
          throw new TypeError("script URL not allowed: " + u);
        }
      });
    }
    return policy.createScriptURL(url);
  }

  function pick(values) {
    for (var i = 0; i < values.length; i++) if (INVOICE_QR.test(values[i])) return values[i];
    return values.length ? values[0] : null;
  }

  function makeWorker() {
    var w = new Worker(scriptURL(document.body.dataset.qrWorker));
    w.postMessage({ type: "init", jsqr: document.body.dataset.jsqr });
    w.onmessage = function (e) {
      if (pending && e.data.id === pending.id) { var p = pending; pending = null; p.resolve(e.data.text); }
    };
    return w;
  }

  function decodeWithWorker(video) {
    var w = video.videoWidth, hgt = video.videoHeight;
    if (!w || !hgt) return Promise.resolve(null);
    var scale = Math.min(1, MAX_SIDE / Math.max(w, hgt));
    var cw = Math.round(w * scale), ch = Math.round(hgt * scale);
    if (!canvas) { canvas = document.createElement("canvas"); ctx = canvas.getContext("2d", { willReadFrequently: true }); }
    canvas.width = cw; canvas.height = ch;
    ctx.drawImage(video, 0, 0, cw, ch);
    var img = ctx.getImageData(0, 0, cw, ch);
    return new Promise(function (resolve) {
      pending = { id: ++seq, resolve: resolve };
      worker.postMessage({ id: seq, width: cw, height: ch, data: img.data.buffer }, [img.data.buffer]);
    });
  }

  function decode(video) {
    if (detector) {
      return detector.detect(video).then(function (codes) {
        return pick(codes.map(function (c) { return c.rawValue; }).filter(Boolean));
      });
    }
    return decodeWithWorker(video);
  }

  function loop(video, onFound) {
    if (!running) return;
    var next = function () { if (running) timer = setTimeout(function () { loop(video, onFound); }, 120); };
    if (video.readyState < 2) { next(); return; }
    decode(video).then(function (text) {
      if (!running) return;
      if (text) { stop(); onFound(text); } else next();
    }, next);
  }

  function chooseDetector() {
    if (!("BarcodeDetector" in window)) return Promise.resolve(null);
    return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      return formats.indexOf("qr_code") >= 0 ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
    }, function () { return null; });
  }

  /* Resolves when the camera shows; rejects with the getUserMedia error. */
  function start(video, onFound) {
    stop();
    return navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } }
    }).then(function (s) {
      stream = s;
      video.srcObject = s;
      return Promise.all([video.play(), chooseDetector()]);
    }).then(function (res) {
      detector = res[1];
      if (!detector && !worker) worker = makeWorker();
      running = true;
      loop(video, onFound);
      return detector ? "barcode-detector" : "jsqr";
    });
  }

  function stop() {
    running = false;
    clearTimeout(timer);
    if (pending) { pending.resolve(null); pending = null; }
    if (stream) { stream.getTracks().forEach(function (tr) { tr.stop(); }); stream = null; }
  }

  F.scan = { available: available, start: start, stop: stop, isRunning: function () { return running; } };
})();
