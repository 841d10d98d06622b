/* Decodes QR codes from camera frames off the main thread with the vendored jsQR
 * (used where the browser has no BarcodeDetector). First message: {type: "init", jsqr: url}. */
/* global jsQR, importScripts */
"use strict";
self.onmessage = function (e) {
  var m = e.data || {};
  if (m.type === "init") {
    importScripts(m.jsqr);
    return;
  }
  var text = null;
  try {
    var found = jsQR(new Uint8ClampedArray(m.data), m.width, m.height, { inversionAttempts: "dontInvert" });
    text = found ? found.data : null;
  } catch (err) {
    text = null;
  }
  self.postMessage({ id: m.id, text: text });
};
