"""The phone page at ``/`` and its static assets under ``/static/``.

Everything is package data (``api/static/``), read lazily on first request and
kept in memory: the page is a few files, and the service must never reach
outside itself for an asset (no CDN, no web fonts).

Caching: the page itself is ``no-cache`` (always revalidated by ETag) and links
every asset as ``/static/<path>?v=<content hash>``; an asset asked for with its
current hash is cached for a year (``immutable``), anything else revalidates.
The page carries a strict Content-Security-Policy: scripts, styles, images and
connections from this origin only, no inline script, Trusted Types enforced.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.resources
import re
from typing import Any, NamedTuple

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

__all__ = ["CONTENT_SECURITY_POLICY", "page_routes"]

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "media-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types fapiao",
    )
)

_MEDIA_TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain",
    ".md": "text/plain",
}
_SAFE_PATH = re.compile(r"[a-z0-9_-]+(?:/[a-z0-9_-]+)*\.[a-z]+", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\{\{(asset|setting):([^}]+)\}\}")

_COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_PAGE_HEADERS = {
    **_COMMON_HEADERS,
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
_IMMUTABLE = "public, max-age=31536000, immutable"


class _Asset(NamedTuple):
    body: bytes
    media_type: str
    version: str
    """First 12 hex digits of the content's SHA-256: the ``?v=`` of its links and its ETag."""
    gzipped: bytes | None
    """The body gzip-compressed, for text worth compressing (jsQR: 257 kB -> about 60 kB)."""


def _make_asset(body: bytes, media_type: str) -> _Asset:
    compressible = len(body) >= 1024 and (
        media_type.startswith("text/") or media_type.endswith(("+xml", "+json"))
    )
    packed = gzip.compress(body, compresslevel=9, mtime=0) if compressible else None
    if packed is not None and len(packed) >= len(body) * 0.9:
        packed = None
    return _Asset(body, media_type, hashlib.sha256(body).hexdigest()[:12], packed)


@functools.cache
def _asset(path: str) -> _Asset | None:
    """One file of ``api/static/``, or ``None`` when there is no such (servable) file."""
    if not _SAFE_PATH.fullmatch(path) or ".." in path:
        return None
    suffix = path[path.rfind(".") :].lower()
    media_type = _MEDIA_TYPES.get(suffix)
    if media_type is None:
        return None
    resource = importlib.resources.files("api").joinpath("static", *path.split("/"))
    if not resource.is_file():
        return None
    return _make_asset(resource.read_bytes(), media_type)


def _page_settings(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The few settings the page's own validation needs (same rules as the server)."""
    settings = getattr(request.app.state, "settings", None)
    if settings is None:
        from verify import get_settings

        settings = get_settings()
    return {
        "window_years": str(settings.limits.window_years),
        "same_day": "1" if settings.limits.same_day else "0",
        "daily_limit": str(settings.limits.daily_limit),
        "timezone": settings.timezone,
    }


@functools.cache
def _render_page(settings_items: tuple[tuple[str, str], ...]) -> _Asset:
    """index.html with asset links versioned and settings filled in (cached per settings)."""
    template = _asset("index.html")
    if template is None:  # pragma: no cover - package data is part of the wheel
        raise RuntimeError("api/static/index.html is missing from the package")
    settings = dict(settings_items)

    def fill(match: re.Match[str]) -> str:
        what, name = match.group(1), match.group(2)
        if what == "setting":
            return settings[name]
        asset = _asset(name)
        if asset is None:
            raise RuntimeError(f"index.html links a missing asset: {name}")
        return f"/static/{name}?v={asset.version}"

    body = _PLACEHOLDER.sub(fill, template.body.decode("utf-8")).encode("utf-8")
    return _make_asset(body, template.media_type)


def _etag(version: str) -> str:
    return f'"{version}"'


def _not_modified(request: Request[Any, Any, Any], etag: str) -> bool:
    offered = request.headers.get("if-none-match", "")
    return any(tag.strip().removeprefix("W/") == etag for tag in offered.split(","))


def _accepts_gzip(request: Request[Any, Any, Any]) -> bool:
    for part in request.headers.get("accept-encoding", "").lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() == "gzip":
            return params.replace(" ", "") not in {"q=0", "q=0.0", "q=0.00", "q=0.000"}
    return False


def _respond(
    request: Request[Any, Any, Any], asset: _Asset, headers: dict[str, str]
) -> Response[bytes]:
    body, version = asset.body, asset.version
    headers = dict(headers)
    if asset.gzipped is not None:
        headers["Vary"] = "Accept-Encoding"
        if _accepts_gzip(request):
            body, version = asset.gzipped, f"{asset.version}-gz"
            headers["Content-Encoding"] = "gzip"
    etag = _etag(version)
    headers["ETag"] = etag
    if _not_modified(request, etag):
        headers.pop("Content-Encoding", None)
        return Response(b"", status_code=304, headers=headers, media_type=asset.media_type)
    return Response(body, headers=headers, media_type=asset.media_type)


@get("/", include_in_schema=False, sync_to_thread=False)
def phone_page(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The phone page: scan, upload or type an invoice, and see the answer."""
    page = _render_page(tuple(sorted(_page_settings(request).items())))
    return _respond(request, page, _PAGE_HEADERS)


@get("/static/{path:path}", include_in_schema=False, sync_to_thread=False)
def static_asset(request: Request[Any, Any, Any], path: FromPath[str]) -> Response[bytes]:
    """A static asset; immutable for a year when asked for by its current content hash."""
    asset = _asset(path.lstrip("/"))
    if asset is None or path.lstrip("/") == "index.html":
        raise NotFoundException(detail=f"no such asset: /static/{path.lstrip('/')}")
    fresh = request.query_params.get("v") == asset.version
    cache = _IMMUTABLE if fresh else "no-cache"
    return _respond(request, asset, {**_COMMON_HEADERS, "Cache-Control": cache})


page_routes = [phone_page, static_asset]
"""Route handlers for the app factory to mount: ``GET /`` and ``GET /static/{path}``."""
