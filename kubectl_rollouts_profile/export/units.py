"""Human-readable sample values, scaled the way pprof prints them (10ms, 1.50s, 512.05kB, 12MB)."""

from __future__ import annotations

_BYTES = (("B", 1), ("kB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30), ("TB", 1 << 40), ("PB", 1 << 50))
_SECONDS = (("ns", 1), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000), ("hrs", 3_600_000_000_000))
_BYTE_ALIASES = {"b": 1, "byte": 1, "kb": 1 << 10, "kilobyte": 1 << 10, "mb": 1 << 20, "megabyte": 1 << 20}
_TIME_ALIASES = {
    "ns": 1, "nanosecond": 1, "us": 1_000, "microsecond": 1_000, "ms": 1_000_000, "millisecond": 1_000_000,
    "s": 1_000_000_000, "sec": 1_000_000_000, "second": 1_000_000_000,
}  # fmt: skip


def _base(unit: str) -> tuple[float, tuple[tuple[str, int], ...]] | None:
    name = unit.lower()
    if len(name) > 2:
        name = name.removesuffix("s")
    if name in _BYTE_ALIASES:
        return _BYTE_ALIASES[name], _BYTES
    if name in _TIME_ALIASES:
        return _TIME_ALIASES[name], _SECONDS
    return None


def unit_kind(unit: str) -> str:
    """"bytes", "nanoseconds" or "none": how a viewer should treat values of this sample unit."""
    known = _base(unit)
    if known is None:
        return "none"
    return "bytes" if known[1] is _BYTES else "nanoseconds"


def to_base_unit(value: int, unit: str) -> int:
    """The value in bytes or nanoseconds (unchanged for counts)."""
    known = _base(unit)
    return value if known is None else round(value * known[0])


def scaled_label(value: int, unit: str) -> str:
    """Format like pprof's ScaledLabel with the "minimum" output unit."""
    if value < 0:
        label = scaled_label(-value, unit)
        return label if label == "0" else "-" + label
    known = _base(unit)
    if known is None:
        scaled, suffix = float(value), ("" if unit in ("count", "sample", "unit", "") else unit)
    else:
        factor, scale = known
        base_value = value * factor
        scaled, suffix = base_value / scale[0][1], scale[0][0]
        for name, size in scale:
            if base_value / size >= 1.0:
                scaled, suffix = base_value / size, name
        if base_value == 0 and scale is _SECONDS:
            suffix = "s"
    text = f"{scaled:.2f}".removesuffix(".00")
    return "0" if text in ("0", "-0") else text + suffix


def percentage(value: int, total: int) -> str:
    """Like pprof: at least two significant digits, width 6."""
    ratio = abs(value / total) * 100 if total else 0.0
    if 99.95 <= ratio <= 100.05:
        return "  100%"
    if ratio >= 1.0:
        return f"{ratio:5.2f}%"
    return f"{_go_g(ratio):>5}%"


def _go_g(ratio: float) -> str:
    # Go's %.2g: two significant digits, no trailing zeros, exponent form for tiny ratios.
    text = f"{ratio:.2g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{exponent[0]}{int(exponent[1:]):02d}"
    return text
