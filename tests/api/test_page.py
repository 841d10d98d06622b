"""The phone page's HTTP side: headers, caching and package data (no browser needed)."""

from __future__ import annotations

import importlib.resources
import re

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from api._page import CONTENT_SECURITY_POLICY, page_routes

STATIC = importlib.resources.files("api") / "static"
MARKUP = re.compile(r"\.(?:inner|outer)HTML\b|insertAdjacentHTML|\beval\(|new Function")


@pytest.fixture(scope="module")
def client():
    with TestClient(Litestar(route_handlers=page_routes)) as c:
        yield c


def _linked_assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href|data-[a-z-]+)="(/static/[^"]+)"', html)


def test_page_is_chinese_html_with_a_strict_policy(client):
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in r.text
    csp = r.headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no hosts
    assert "unsafe" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-cache"
    assert "camera=(self)" in r.headers["permissions-policy"]


def test_page_has_no_inline_script_or_style_and_no_outside_asset(client):
    html = client.get("/").text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert " style=" not in html
    assert "<style" not in html
    assert not re.search(r"""(?:src|href)=["'](?:https?:)?//""", html)
    own = list(STATIC.joinpath("css").iterdir()) + list(STATIC.joinpath("js").iterdir())
    for f in own:
        text = f.read_text("utf-8")
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), f"{f.name} names a host"
        assert not MARKUP.search(text), f"{f.name} builds markup from strings"


def test_settings_fill_the_page(client):
    html = client.get("/").text
    assert 'data-window-years="5"' in html
    assert 'data-daily-limit="5"' in html
    assert 'data-timezone="Asia/Shanghai"' in html
    assert "{{" not in html


def test_every_linked_asset_is_served_immutable_with_its_hash(client):
    html = client.get("/").text
    links = _linked_assets(html)
    assert any(link.startswith("/static/js/app.js?v=") for link in links)
    assert any(link.startswith("/static/vendor/jsqr/jsQR.js?v=") for link in links)
    for link in links:
        r = client.get(link)
        assert r.status_code == 200, link
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable", link
        assert r.headers["x-content-type-options"] == "nosniff"
        version = link.split("?v=")[1]
        assert r.headers["etag"] in {f'"{version}"', f'"{version}-gz"'}


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/static/js/app.js", "text/javascript"),
        ("/static/css/app.css", "text/css"),
        ("/static/img/emblem.svg", "image/svg+xml"),
        ("/static/vendor/jsqr/LICENSE.txt", "text/plain"),
    ],
)
def test_assets_have_their_content_type_and_revalidate_without_hash(client, path, media_type):
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] == media_type
    assert r.headers["cache-control"] == "no-cache"
    again = client.get(path, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_stale_hash_is_not_cached_for_a_year(client):
    r = client.get("/static/js/app.js?v=000000000000")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-cache"


def test_page_revalidates_by_etag(client):
    first = client.get("/")
    again = client.get("/", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert "content-security-policy" in again.headers


@pytest.mark.parametrize(
    "path",
    [
        "/static/nope.js",
        "/static/../pyproject.toml",
        "/static/%2e%2e/_page.py",
        "/static/index.html",
        "/static/js",
        "/static/js/app.py",
        "/static/vendor/jsqr/LICENSE",
    ],
)
def test_unknown_or_unsafe_paths_are_404(client, path):
    assert client.get(path).status_code == 404


def test_vendored_decoder_keeps_its_licence_and_version_note():
    vendor = STATIC.joinpath("vendor", "jsqr")
    assert "Apache License" in vendor.joinpath("LICENSE.txt").read_text("utf-8")
    note = vendor.joinpath("README.md").read_text("utf-8")
    assert "1.4.0" in note
    assert "jsqr" in note.lower()


def test_text_assets_are_gzipped_when_the_client_accepts_it(client):
    plain = client.get("/static/vendor/jsqr/jsQR.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert int(plain.headers["content-length"]) > 200_000
    packed = client.get("/static/vendor/jsqr/jsQR.js", headers={"Accept-Encoding": "br, gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < 80_000
    assert packed.content == plain.content  # httpx decodes it
    assert packed.headers["vary"] == "Accept-Encoding"
    assert packed.headers["etag"] != plain.headers["etag"]
    refused = client.get("/static/js/app.js", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    svg = client.get("/static/img/emblem.svg", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in svg.headers  # too small to be worth it


def test_first_load_stays_light(client):
    """Everything a phone fetches to show the page (the camera decoder comes later, only
    where the browser lacks BarcodeDetector) stays under 50 kB on the wire."""
    gz = {"Accept-Encoding": "gzip"}
    page = client.get("/", headers=gz)
    html = page.text
    eager = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert len(eager) >= 6
    total = int(page.headers["content-length"])
    total += sum(int(client.get(link, headers=gz).headers["content-length"]) for link in eager)
    assert total < 50 * 1024, total
