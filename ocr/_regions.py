"""Region proposals: where in a photo a QR code probably is, as upright crops.

Two sources: symbols zxing detected but could not decode (their corner points),
and dense square blobs of dark/light edges found by morphology (a QR is a square
texture; text lines are long and thin). Each proposal is cut out with a margin,
turned upright and scaled to a size the readers like.
"""

from __future__ import annotations

import numpy as np

MAX_PROPOSALS = 6
SPLIT_OPEN = 2
"""``blobs`` opens the closed edges a second time with a square this many times the
first (less one: 9 px on a 1000 px frame), which cuts a code from the text its edges
were closed onto: 2 MP tuning multi-13's third code (1.6 px modules, 36 px on the
shrunk frame) made one 72 x 113 blob with the text beside it (fill 0.49, no blob) and
makes 38 x 43 (fill 0.93); combined-61's (noise sigma 24) made a 503 x 272 blob of
the lit desk and makes 76 x 62 (fill 0.69)."""


def zxing_failures(gray: np.ndarray) -> list[np.ndarray]:
    """Corner points (4x2) of QR symbols zxing saw but failed to decode."""
    import zxingcpp

    found = zxingcpp.read_barcodes(
        gray,
        formats=zxingcpp.BarcodeFormat.QRCode,  # type: ignore[arg-type]
        try_rotate=False,
        try_downscale=True,
        try_invert=False,
        return_errors=True,
    )
    out = []
    for r in found:
        if r.valid:
            continue
        p = r.position
        pts = [
            (p.top_left.x, p.top_left.y),
            (p.top_right.x, p.top_right.y),
            (p.bottom_right.x, p.bottom_right.y),
            (p.bottom_left.x, p.bottom_left.y),
        ]
        out.append(np.array(pts, np.float32))
    return out


def blobs(gray: np.ndarray) -> list[np.ndarray]:
    """Corner points (4x2) of square, densely textured blobs (QR candidates)."""
    import cv2

    h, w = gray.shape
    grad = cv2.morphologyEx(gray, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    _, edges = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    k = max(3, round(min(h, w) / 150))
    closed = cv2.morphologyEx(
        edges, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    )
    side_min, side_max = min(h, w) * 0.03, min(h, w) * 0.6
    scored: list[tuple[float, np.ndarray]] = []
    kept: list[np.ndarray] = []
    for size in (k, SPLIT_OPEN * k - 1):
        opened = cv2.morphologyEx(
            closed, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
        )
        contours, _ = cv2.findContours(opened, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        found = []
        for c in contours:
            (cx, cy), (rw, rh), angle = cv2.minAreaRect(c)
            if not (side_min <= min(rw, rh) and max(rw, rh) <= side_max):
                continue
            aspect = max(rw, rh) / max(1.0, min(rw, rh))
            fill = cv2.contourArea(c) / max(1.0, rw * rh)
            if aspect > 1.5 or fill < 0.6:
                continue
            if any(cv2.pointPolygonTest(q, (float(cx), float(cy)), False) >= 0 for q in kept):
                continue  # the first opening's blob, split
            x, y, bw, bh = cv2.boundingRect(c)
            density = float(edges[y : y + bh, x : x + bw].mean()) / 255
            if density < 0.15:
                continue
            score = density * fill / aspect
            found.append((score, cv2.boxPoints(((cx, cy), (rw, rh), angle)).astype(np.float32)))
        scored += found
        kept += [q for _, q in found]
    scored.sort(key=lambda s: -s[0])
    return [pts for _, pts in scored[:MAX_PROPOSALS]]


def crop(gray: np.ndarray, pts: np.ndarray, *, margin: float = 0.25, out: int = 360) -> np.ndarray:
    """The quadrilateral ``pts`` with a margin, warped upright to ``out`` x ``out`` pixels."""
    import cv2

    dst = np.array([[0, 0], [out - 1, 0], [out - 1, out - 1], [0, out - 1]], np.float32)
    m = cv2.getPerspectiveTransform(grown(pts, margin), dst)
    return cv2.warpPerspective(
        gray, m, (out, out), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )


def grown(pts: np.ndarray, margin: float) -> np.ndarray:
    """The quadrilateral ``pts`` grown by ``margin`` of its size on every side, its
    corners in ``crop``'s order (the crop's corners in the frame)."""
    centre = pts.mean(axis=0)
    return _order((pts - centre) * (1 + 2 * margin) + centre)


def _order(pts: np.ndarray) -> np.ndarray:
    """Corners ordered clockwise from the top-left-most (any consistent order suffices)."""
    centre = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    return pts[np.argsort(angles)].astype(np.float32)
