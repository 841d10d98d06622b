"""Text from the command line or the file system, made safe to print as UTF-8."""

from __future__ import annotations


def argv_text(value: str) -> tuple[str, bool]:
    """``value`` safe to print as UTF-8, and whether it was valid UTF-8 to begin with.

    Python hands undecodable argv bytes (and file-name bytes) over as lone surrogates
    (``surrogateescape``); they cannot be encoded, so each such byte becomes U+FFFD.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raw = value.encode("utf-8", "surrogateescape")
        return raw.decode("utf-8", "replace"), False
    return value, True
