"""Phone photos of printed invoices, degraded by category, deterministic by seed.

A scene is drawn in frame-relative units and rendered at any size, so the 12-MP
and the 2-MP version of one photo show the same thing. Every photo gets the mild
faults of a real phone picture (a little tilt, perspective, blur, noise, JPEG);
its category adds one strong fault, and ``combined`` several at once.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from ocr.synth._record import Record, make_record
from ocr.synth._render import SHEET_MM, render_invoice

CATEGORIES = (
    "clean",
    "perspective",
    "rotation",
    "defocus",
    "motion",
    "noise",
    "jpeg",
    "lighting",
    "glare",
    "lowres",
    "crumpled",
    "multi",
    "combined",
)
SYNTH_VERSION = 3
"""Bumped whenever a photo for a given seed changes (benchmark caches key on it).

3 (2026-11-23 11:30): the sheet is rendered supersampled and each frame pixel
averages its area (a camera's pixel integrates light); 2 drew it at the frame's
own scale (at 2 MP a module was 1 or 2 whole pixels, NEAREST) and warped it with
bilinear point samples (aliased where perspective shrinks the sheet)."""
SUPERSAMPLE_PX_PER_MM = 20.0
"""The print is sampled at least this finely inside each frame pixel (2 to 8 samples
a side): a module of 0.54-0.61 mm gets 11+ samples, its edges land where they are."""
SIZES = {"12mp": (4000, 3000), "2mp": (1632, 1224)}


@dataclass(frozen=True)
class Photo:
    data: bytes
    """The JPEG file as a phone would save it."""
    records: tuple[Record, ...]
    category: str

    @property
    def payloads(self) -> list[str]:
        return [r.qr_line for r in self.records]


def _background(rng: random.Random, w: int, h: int) -> np.ndarray:
    """A desk: a smooth colour gradient with a low-frequency texture."""
    base = np.array([rng.randint(60, 200) for _ in range(3)], np.float32)
    yy, xx = np.mgrid[0:h:8, 0:w:8].astype(np.float32)
    grad = (xx / w * rng.uniform(-40, 40) + yy / h * rng.uniform(-40, 40))[..., None]
    small: np.ndarray = np.clip(base + grad, 0, 255).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _quad(  # noqa: PLR0917
    rng: random.Random,
    cx: float,
    cy: float,
    width: float,
    angle: float,
    persp: float,
    w: int,
    h: int,
) -> np.ndarray:
    """Corners (tl, tr, br, bl) in pixels of a sheet centred at (cx, cy), frame-relative."""
    sw = width * w
    sh = sw * SHEET_MM[1] / SHEET_MM[0]
    pts = np.array([[-sw / 2, -sh / 2], [sw / 2, -sh / 2], [sw / 2, sh / 2], [-sw / 2, sh / 2]])
    # perspective: shrink one edge (the far side of a tilted sheet)
    side = rng.randrange(4)
    a, b = side, (side + 1) % 4
    mid = (pts[a] + pts[b]) / 2
    pts[a] = mid + (pts[a] - mid) * (1 - persp)
    pts[b] = mid + (pts[b] - mid) * (1 - persp)
    pts += np.array(
        [
            [rng.uniform(-1, 1) * persp * sw * 0.05, rng.uniform(-1, 1) * persp * sh * 0.05]
            for _ in range(4)
        ]
    )
    c, s = math.cos(angle), math.sin(angle)
    rot = pts @ np.array([[c, s], [-s, c]])
    quad: np.ndarray = (rot + np.array([cx * w, cy * h])).astype(np.float32)
    return quad


def _fit(quad: np.ndarray, w: int, h: int, margin: float = 0.02) -> np.ndarray:
    """Shrink a sheet about its centre until it lies inside the frame (a user frames it)."""
    centre = quad.mean(axis=0)
    lo, hi = quad.min(axis=0), quad.max(axis=0)
    limit_lo = np.array([w, h]) * margin
    limit_hi = np.array([w, h]) * (1 - margin)
    scale = 1.0
    for i in range(2):
        if lo[i] < limit_lo[i]:
            scale = min(scale, (centre[i] - limit_lo[i]) / (centre[i] - lo[i]))
        if hi[i] > limit_hi[i]:
            scale = min(scale, (limit_hi[i] - centre[i]) / (hi[i] - centre[i]))
    fitted: np.ndarray = ((quad - centre) * scale + centre).astype(np.float32)
    return fitted


def _place(  # noqa: PLR0917
    frame: np.ndarray,
    sheet: np.ndarray,
    quad: np.ndarray,
    crumple: float,
    rng: random.Random,
    ss: int = 1,
) -> None:
    """Lay the printed ``sheet`` into ``frame`` at ``quad`` as a camera sees it.

    Each frame pixel integrates the light over its area (a sharp print through the
    optics; the blurs come later): the sheet, rendered at ``ss`` times the frame's
    scale, is sampled on an ``ss`` x ``ss`` grid inside every pixel and averaged,
    so a module edge inside a pixel gives a grey pixel, not a shifted edge. Done in
    strips of rows to bound the memory of a 12-MP frame.
    """
    h, w = frame.shape[:2]
    sh, sw = sheet.shape[:2]
    src = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], np.float32)
    m = cv2.getPerspectiveTransform(src, quad)
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return
    shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
    inv = np.linalg.inv(shift @ m)
    bw, bh = x1 - x0, y1 - y0
    scale = max(bw, bh)
    waves = []
    if crumple > 0:
        for _ in range(3):
            fx, fy = (
                rng.uniform(1.5, 4.0) * 2 * math.pi / scale,
                rng.uniform(1.5, 4.0) * 2 * math.pi / scale,
            )
            ph = rng.uniform(0, 2 * math.pi)
            waves.append((fx, fy, ph, crumple * scale * rng.uniform(0.3, 1.0) / 3))
    xs = ((np.arange(bw * ss, dtype=np.float32) + 0.5) / ss - 0.5)[None, :]
    # without creases the map is separable: the per-column and per-row products are
    # computed once and broadcast (the same float64 values as on full grids)
    cols = [inv[r, 0] * xs for r in range(3)] if not waves else []
    step = max(1, 2_000_000 // (bw * ss * ss))  # frame rows a strip
    for r0 in range(0, bh, step):
        r1 = min(bh, r0 + step)
        ys = (np.arange(r0 * ss, r1 * ss, dtype=np.float32) + 0.5) / ss - 0.5
        if waves:
            xx = np.repeat(xs, len(ys), axis=0)
            yy = np.repeat(ys[:, None], xs.shape[1], axis=1)
            for fx, fy, ph, amp in waves:
                xx += amp * np.sin(yy * fy + ph).astype(np.float32) * 0.5
                yy += amp * np.sin(xx * fx + ph * 1.7).astype(np.float32)
            den = inv[2, 0] * xx + inv[2, 1] * yy + inv[2, 2]
            mapx = ((inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]) / den).astype(np.float32)
            mapy = ((inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]) / den).astype(np.float32)
        else:
            yc = ys[:, None]
            den = cols[2] + inv[2, 1] * yc
            den += inv[2, 2]
            mapx, mapy = (_row_map(cols[r], inv[r, 1] * yc, inv[r, 2], den) for r in (0, 1))
        warped = cv2.remap(
            sheet, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        ).astype(np.float32)
        mask = (mapx >= -0.5) & (mapx <= sw - 0.5) & (mapy >= -0.5) & (mapy <= sh - 0.5)
        inside = mask.astype(np.float32)
        if waves:  # creases shade the paper
            inside *= 1.0 - 0.25 * np.abs(np.sin((xx + yy) * 9 / scale))
            covered = mask.astype(np.float32)
        else:
            covered = inside
        warped *= inside[..., None]
        size = (bw, r1 - r0)
        paper = cv2.resize(warped, size, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(covered, size, interpolation=cv2.INTER_AREA)[..., None]
        region = frame[y0 + r0 : y0 + r1, x0:x1]
        region[:] = np.clip(paper + region * (1 - alpha) + 0.5, 0, 255).astype(np.uint8)


def _row_map(col: np.ndarray, row: np.ndarray, c: float, den: np.ndarray) -> np.ndarray:
    """``(col + row + c) / den`` in float64, in place, as float32 sample coordinates."""
    t: np.ndarray = col + row
    t += c
    t /= den
    return t.astype(np.float32)


def _motion_kernel(length: int, angle: float) -> np.ndarray:
    k: np.ndarray = np.zeros((length, length), np.float32)
    k[length // 2, :] = 1
    rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), math.degrees(angle), 1)
    k = cv2.warpAffine(k, rot, (length, length))
    kernel: np.ndarray = k / max(k.sum(), 1e-6)
    return kernel


def _disk_kernel(radius: float) -> np.ndarray:
    """A lens out of focus: a uniform disk (anti-aliased edge) of ``radius`` pixels."""
    size = 2 * math.ceil(radius) + 3
    c = size // 2
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) - c
    k = np.clip(radius + 0.5 - np.hypot(xx, yy), 0, 1).astype(np.float32)
    kernel: np.ndarray = k / float(k.sum())
    return kernel


_COMBINABLE = [c for c in CATEGORIES if c not in ("clean", "rotation", "multi", "combined")]
"""Faults a "combined" photo draws three of (in CATEGORIES order, so seeds stay stable)."""


class _Faults:
    """The degradation strengths of one photo (0 = off); lengths are frame-relative.

    Every photo carries the mild faults of a hand-held phone picture (some blur, a
    little shake, the sheet not filling the frame); the category adds a strong one.
    Strong defocus is a disk (a lens out of focus), not a Gaussian.
    """

    def __init__(self, rng: random.Random, category: str) -> None:
        pick = {category} if category != "combined" else set(rng.sample(_COMBINABLE, 3))
        if category not in ("clean", "combined") and rng.random() < SECOND_FAULT:
            pick.add(rng.choice([c for c in _SECOND if c != category]))
        self.angle = math.radians(
            rng.uniform(0, 360) if category in ("rotation", "multi") else rng.uniform(-6, 6)
        )
        self.persp = rng.uniform(0.25, 0.45) if "perspective" in pick else rng.uniform(0.0, 0.1)
        self.width = (
            rng.uniform(*STRENGTH["small"]) if "lowres" in pick else rng.uniform(0.55, 0.92)
        )
        self.defocus = rng.uniform(0.0, 0.0003)
        self.disk = rng.uniform(*STRENGTH["defocus"]) if "defocus" in pick else 0.0
        self.motion = (
            rng.uniform(*STRENGTH["motion"]) if "motion" in pick else rng.uniform(0.0, 0.001)
        )
        self.noise = rng.uniform(14, 26) if "noise" in pick else rng.uniform(1, 5)
        self.quality = rng.randint(8, 18) if "jpeg" in pick else rng.randint(72, 92)
        self.shadow = rng.uniform(0.55, 0.8) if "lighting" in pick else 0.0
        self.glare = rng.uniform(150, 215) if "glare" in pick else 0.0
        self.crumple = rng.uniform(0.012, 0.025) if "crumpled" in pick else 0.0
        self.count = rng.randint(2, 3) if category == "multi" else 1


STRENGTH = {"small": (0.32, 0.45), "defocus": (0.0006, 0.0010), "motion": (0.002, 0.0035)}
"""Ranges of the strong faults (frame-relative): sheet width, defocus disk radius and
motion streak length as fractions of the frame's width and diagonal."""
SECOND_FAULT = 0.3
"""Share of photos (all categories but ``clean``) that also carry a second strong fault."""
_SECOND = ("defocus", "motion", "lowres")


def _layout(rng: random.Random, f: _Faults) -> list[tuple[float, float, float]]:
    """Centres and widths of the sheets, frame-relative. Several sheets' centres are
    apart, but each is turned at random, so their corners can touch or overlap (as
    invoices laid on a desk do), each later sheet over the earlier: on the 2 MP
    tuning split 4 of seeds 0-179 cover part of an earlier sheet's code (multi-97:
    56 % of it, unreadable; multi-13 6 %, a finder; multi-111 and -170 1-2 %)."""
    if f.count == 1:
        return [(0.5 + rng.uniform(-0.04, 0.04), 0.5 + rng.uniform(-0.04, 0.04), f.width)]
    cells = [(0.27, 0.3), (0.73, 0.3), (0.5, 0.74)] if f.count == 3 else [(0.27, 0.5), (0.73, 0.5)]
    return [(x + rng.uniform(-0.02, 0.02), y + rng.uniform(-0.02, 0.02), 0.40) for x, y in cells]


def make_photo(seed: int, category: str, size: str = "12mp", *, qr: bool = True) -> Photo:
    """One synthetic phone photo (JPEG bytes) and the invoices it shows."""
    rng = random.Random(f"{seed}:{category}")
    w, h = SIZES[size]
    f = _Faults(rng, category)
    frame = _background(rng, w, h)
    records = []
    for cx, cy, width in _layout(rng, f):
        record = make_record(rng)
        records.append(record)
        px_per_mm = width * w / SHEET_MM[0]  # in the frame, before perspective
        ss = min(8, max(2, math.ceil(SUPERSAMPLE_PX_PER_MM / px_per_mm)))
        sheet = np.asarray(render_invoice(record, px_per_mm=px_per_mm * ss, qr=qr))
        angle = f.angle if f.count == 1 else math.radians(rng.uniform(0, 360))
        quad = _fit(_quad(rng, cx, cy, width, angle, f.persp, w, h), w, h)
        _place(frame, sheet, quad, f.crumple, rng, ss)
    img = frame.astype(np.float32)
    diag = math.hypot(w, h)
    if f.shadow:
        yy, xx = np.mgrid[0:h:4, 0:w:4].astype(np.float32)
        a = rng.uniform(0, 2 * math.pi)
        edge = (xx - w / 2) * math.cos(a) + (yy - h / 2) * math.sin(a) - rng.uniform(-0.1, 0.15) * w
        soft = 1 / (1 + np.exp(-edge / (0.03 * w)))
        light = 1 - f.shadow * soft
        light *= 0.8 + 0.4 * (xx / w)  # uneven light across the sheet
        img *= cv2.resize(light, (w, h))[..., None]
    if f.glare:
        gx, gy = rng.uniform(0.1, 0.5) * w, rng.uniform(0.1, 0.5) * h
        yy, xx = np.mgrid[0:h:4, 0:w:4].astype(np.float32)
        r2 = ((xx - gx) / (0.12 * w)) ** 2 + ((yy - gy) / (0.07 * w)) ** 2
        spot = cv2.resize(np.exp(-r2) * f.glare, (w, h))  # peak: grey levels added
        img += spot[..., None]
    np.clip(img, 0, 255, out=img)
    img8: np.ndarray = img.astype(np.uint8)
    sigma = f.defocus * diag
    if sigma > 0.3:
        img8 = cv2.GaussianBlur(img8, (0, 0), sigma)
    if f.disk:
        img8 = cv2.filter2D(img8, -1, _disk_kernel(f.disk * diag))
    if f.motion * diag >= 2:
        length = max(2, round(f.motion * diag))
        img8 = cv2.filter2D(img8, -1, _motion_kernel(length, rng.uniform(0, math.pi)))
    noisy = img8.astype(np.float32) + np.random.default_rng(rng.randrange(2**32)).normal(
        0, f.noise, (h, w, 1)
    ).astype(np.float32)
    img8 = np.clip(noisy, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img8, "RGB").save(buf, "JPEG", quality=f.quality)
    return Photo(data=buf.getvalue(), records=tuple(records), category=category)
