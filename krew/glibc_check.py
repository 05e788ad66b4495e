"""Check the GLIBC floor of a linux release archive: the newest GLIBC symbol version any bundled ELF file needs.

    python krew/glibc_check.py ARCHIVE.tar.gz [--floor 2.28]

Prints the newest version needed and the files that need it; with ``--floor``, exits 1 when a file needs a newer
GLIBC than the floor (the archive would not start on hosts with the floor's glibc: RHEL 8 has 2.28, Debian 11 2.31,
Ubuntu 22.04 2.35). Reads the version needs (``.gnu.version_r``) with binutils' ``readelf``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

_ELF_MAGIC = b"\x7fELF"
_GLIBC_NEED = re.compile(r"Name: GLIBC_(\d+(?:\.\d+)+)\b")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def glibc_needs(archive: Path) -> dict[str, tuple[int, ...]]:
    """Every ELF file of the archive that needs versioned GLIBC symbols → the newest version it needs."""
    readelf = shutil.which("readelf")
    if readelf is None:
        raise SystemExit("glibc_check: readelf is missing (binutils)")
    needs: dict[str, tuple[int, ...]] = {}
    with tarfile.open(archive) as tar, tempfile.TemporaryDirectory(prefix="glibc-check-") as work:
        for member in tar:
            stream = tar.extractfile(member) if member.isreg() else None
            if stream is None or stream.read(4) != _ELF_MAGIC:
                continue
            path = Path(work) / "elf"
            with open(path, "wb") as out:
                out.write(_ELF_MAGIC)
                shutil.copyfileobj(stream, out)
            listing = subprocess.run([readelf, "--version-info", "--wide", str(path)], capture_output=True,
                                     text=True, check=True).stdout
            versions = [_version(found) for found in _GLIBC_NEED.findall(listing)]
            if versions:
                needs[member.name] = max(versions)
    return needs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archive", type=Path)
    parser.add_argument("--floor", help="fail when any file needs a newer GLIBC than this, e.g. 2.28")
    args = parser.parse_args(argv)
    needs = glibc_needs(args.archive)
    if not needs:
        raise SystemExit(f"glibc_check: no ELF file in {args.archive} needs GLIBC (not a linux build?)")
    newest = max(needs.values())
    shown = ".".join(map(str, newest))
    print(f"GLIBC {shown} needed by: {', '.join(sorted(n for n, v in needs.items() if v == newest))}")
    if args.floor is not None:
        floor = _version(args.floor)
        over = sorted(name for name, version in needs.items() if version > floor)
        if over:
            print(f"glibc_check: {len(over)} files need a newer GLIBC than the floor {args.floor}:", file=sys.stderr)
            for name in over:
                print(f"  {name}: GLIBC {'.'.join(map(str, needs[name]))}", file=sys.stderr)
            return 1
        print(f"glibc_check: every file runs on GLIBC {args.floor}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
