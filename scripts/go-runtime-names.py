#!/usr/bin/env python3
"""Regenerate a list of Go runtime function names, as profiles spell them, from a Go source tree (GOROOT/src).

The analysis catalog names runtime work by function (allocation, GC marking, sweeping, maps, scheduler); the
test checks its patterns against these lists (tests/data/upstream/go-runtime/). A name is what the linker
calls the function and a profile shows: ``runtime.mallocgc``, ``runtime.(*mspan).sweep``,
``runtime.typePointers.next``; a ``//go:linkname local target`` function is named by its target
(``runtime.mapaccess1_faststr`` defined in internal/runtime/maps), generic type arguments are left out, and
assembly ``TEXT`` symbols are listed too. Only files that build for linux/amd64 by their name are read
(``//go:build`` lines are not: both sides of a GOEXPERIMENT, e.g. the Green Tea GC, are listed).

    scripts/go-runtime-names.py GOROOT/src --version 1.26.10 --source "Debian golang-1.26-src 1.26.10-1" > FILE

The list is grouped by source file (``## runtime/malloc.go``), one name a line.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

PACKAGES = ("runtime", "internal/runtime/maps", "internal/runtime/syscall")
GOOS = {"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux", "netbsd", "openbsd",
        "plan9", "solaris", "wasip1", "windows", "hurd", "nacl", "zos"}  # fmt: skip
GOARCH = {"386", "amd64", "arm", "arm64", "loong64", "mips", "mipsle", "mips64", "mips64le", "ppc64", "ppc64le",
          "riscv64", "s390x", "wasm", "sparc64", "amd64p32", "mips64p32", "mips64p32le", "ppc", "riscv",
          "mipsx", "mips64x", "ppc64x"}  # fmt: skip

FUNC = re.compile(r"^func\s+(?:\((?:\w+\s+)?(\*?)\s*([A-Za-z_]\w*)(?:\[[^\]]*\])?\)\s*)?([A-Za-z_]\w*)", re.MULTILINE)
LINKNAME = re.compile(r"^//go:linkname\s+(\w+)\s+(\S+)", re.MULTILINE)
TEXT = re.compile(r"^TEXT\s+([\w/.]*)·(\w+)(?:<[^>]*>)?\(SB\)", re.MULTILINE)


def builds_on_linux_amd64(name: str) -> bool:
    stem = name.rsplit(".", 1)[0].removesuffix("_test")
    parts = stem.split("_")[1:]
    if parts and parts[-1] in GOARCH and parts[-1] != "amd64":
        return False
    if len(parts) >= 2 and parts[-1] in GOARCH and parts[-2] in GOOS:
        return parts[-2] == "linux"
    if parts and parts[-1] in GOOS:
        return parts[-1] == "linux"
    return True


def names_of(path: Path, package: str) -> list[str]:
    text = path.read_text(errors="replace")
    if path.suffix == ".s":
        return [f"{prefix.replace('∕', '/') or package}.{name}" for prefix, name in TEXT.findall(text)]
    targets = dict(LINKNAME.findall(text))
    names = []
    for pointer, receiver, name in FUNC.findall(text):
        if receiver:
            names.append(f"{package}.({pointer}{receiver}).{name}" if pointer else f"{package}.{receiver}.{name}")
        elif name in targets and "." in targets[name]:
            names.append(targets[name])
        else:
            names.append(f"{package}.{name}")
    return names


def render(src: Path, version: str, source: str) -> str:
    lines = [f"# Go {version}", f"# source: {source}", f"# packages: {', '.join(PACKAGES)} (files that build for "
             "linux/amd64 by name; see scripts/go-runtime-names.py)"]  # fmt: skip
    for package in PACKAGES:
        directory = src / package
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            source = path.suffix in (".go", ".s") and not path.name.endswith("_test.go")
            if not source or not builds_on_linux_amd64(path.name):
                continue
            names = sorted(set(names_of(path, package)))
            if names:
                lines.append(f"## {package}/{path.name}")
                lines += names
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", type=Path, help="a Go source tree's src directory")
    parser.add_argument("--version", required=True)
    parser.add_argument("--source", required=True, help="where the tree came from, written into the header")
    args = parser.parse_args()
    sys.stdout.write(render(args.src, args.version, args.source))


if __name__ == "__main__":
    main()
