"""What a file is, from its first bytes (never from its name or the declared MIME type)."""

from __future__ import annotations

IMAGE_TYPES = frozenset({"jpeg", "png", "webp", "bmp", "tiff", "heic", "gif"})
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif"}
)


def sniff(data: bytes) -> str | None:
    """One of jpeg png webp bmp tiff heic gif pdf zip xml, or None when unknown."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"BM") and len(head) >= 26:
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "heic"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "zip"  # OFD is a zip; the OFD reader checks for OFD.xml inside
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith((b"<?xml", b"<")) and _looks_like_xml(text):
        return "xml"
    return None


def _looks_like_xml(text: bytes) -> bool:
    return len(text) > 1 and (text[1:2].isalpha() or text[1:2] in (b"?", b"!", b"_"))
