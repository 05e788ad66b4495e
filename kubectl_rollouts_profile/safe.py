"""Text and numbers read from outside (profiles, metrics pages, archives, file names) made safe where they land:
strict JSON for runbooks, JSON inside an HTML script element, a terminal line, a file name shown to a person.

Every JSON document the plugin prints or embeds goes through ``dumps`` or ``script_json``; every name from outside
that reaches a terminal goes through ``terminal``; every file name shown goes through ``display_name``."""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

# Control characters (C0 but tab and newline, DEL, C1: ESC ] and CSI start escape sequences), the bidirectional
# overrides and isolates (they reorder what a person reads), line and paragraph separators, and lone surrogates
# (an undecodable byte of a file name, kept by surrogateescape).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_IN_LINE = re.compile(f"[\t\n{_UNSAFE.pattern[1:-1]}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape's stand-in for the byte code - 0xDC00
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal(text: str) -> str:
    """``text`` as one line a terminal shows as written: control characters, newlines and tabs as ``\\x1b``,
    ``\\n``-free escapes (``\\x0a``), never as what they would do."""
    return _UNSAFE_IN_LINE.sub(_escape, text)


def terminal_lines(text: str) -> str:
    """Like ``terminal`` but newlines and tabs are kept: for a message or table that spans lines."""
    return _UNSAFE.sub(_escape, text)


def display_name(name: str | os.PathLike[str]) -> str:
    """A file name (any bytes: a non-UTF-8 name arrives with surrogate escapes) as readable text that encodes as
    UTF-8 anywhere: undecodable bytes and control characters shown as ``\\xNN``."""
    return terminal(os.fspath(name))


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±Inf) inside it replaced by None: JSON has no such numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def dumps(value: Any, **options: Any) -> str:
    """Strict JSON (RFC 8259): never ``NaN`` or ``Infinity``, which strict parsers refuse. Non-finite numbers are
    left out of judgements where they are read; any that still arrive here are written as null."""
    return json.dumps(finite(value), allow_nan=False, **options)


# Inside a JSON string each of these is as good as its escape; lone surrogates (from a file name) would not encode.
_SCRIPT_PATTERN = re.compile("[<>&\u2028\u2029\ud800-\udfff]")


def script_json(value: Any) -> str:
    """JSON to put inside an HTML ``<script>`` element: ``<`` ``>`` ``&`` escaped as ``\\u003c``..., so no name can
    close the element or open a comment (``</script>``, ``<!--<script>``), whatever a profile holds."""
    text = json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    return _SCRIPT_PATTERN.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
