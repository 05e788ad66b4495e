"""Build the krew release archive for this machine's OS/arch: ``python krew/build.py [--dist DIR]``.

Run it once per platform, on a runner of that OS/arch (PyInstaller does not cross-compile); it prints the archive's
path. The plugin is frozen from a new virtualenv holding only the plugin and its runtime dependencies (plus
PyInstaller), so nothing of a developer's environment or the test tools ends up in the archive. The archive holds
regular files and directories only, as krew's extractor takes nothing else. krew/manifest.py then writes the
manifest from the template ``.krew.yaml`` with every platform's sha256.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import platform
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from manifest import sha256_of  # krew/manifest.py: this script's folder is first on sys.path

REPO = Path(__file__).resolve().parent.parent
PLUGIN_BIN = "kubectl-rollouts_profile"
# What the clean environment holds besides the plugin; and what of it PyInstaller's hooks must leave out.
PYINSTALLER = "pyinstaller>=6"
EXCLUDED_MODULES = ("tkinter", "pip", "setuptools")
LICENSE = "LICENSE"
ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def archive_name(os_name: str, arch: str) -> str:
    return f"{PLUGIN_BIN}_{os_name}_{arch}.tar.gz"


def host_platform() -> tuple[str, str]:
    """krew's (os, arch) names for this machine."""
    machine = platform.machine().lower()
    if machine not in ARCHES:
        raise SystemExit(f"unsupported architecture {machine!r}")
    return sys.platform if sys.platform != "win32" else "windows", ARCHES[machine]


def clean_environment(work_dir: Path) -> Path:
    """A new virtualenv with the plugin (built from this checkout, not editable), its runtime dependencies and
    PyInstaller; returns its Python. Uses uv when it is on PATH or beside this Python (faster), else venv + pip."""
    venv = work_dir / "venv"
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    uv = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if uv:
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        install = [uv, "pip", "install", "-q", "--python", str(python)]
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        install = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*install, str(REPO), PYINSTALLER], check=True)
    return python


def project_version(python: Path) -> str:
    command = [str(python), "-c", "from kubectl_rollouts_profile import __version__; print(__version__)"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def freeze(python: Path, work_dir: Path) -> Path:
    """Run PyInstaller (one-folder mode) in the clean environment; return the folder holding the executable and
    its _internal/."""
    command = [
        str(python), "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN", "--onedir",
        "--name", PLUGIN_BIN,
        "--distpath", str(work_dir / "dist"), "--workpath", str(work_dir / "build"),
        "--specpath", str(work_dir),
        "--collect-submodules", "kubectl_rollouts_profile",
        # Imported inside functions (so --help stays fast); named here so the freeze never misses them.
        "--hidden-import", "kubernetes", "--hidden-import", "requests", "--hidden-import", "google.protobuf",
    ]
    for module in EXCLUDED_MODULES:
        command += ["--exclude-module", module]
    command.append(str(REPO / "krew" / "entry.py"))
    subprocess.run(command, check=True, cwd=work_dir)
    return work_dir / "dist" / PLUGIN_BIN


def _tar_filter(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # Same owner and timestamp for every entry, so the archive depends only on the files' contents.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    if info.isdir() or info.mode & stat.S_IXUSR:
        info.mode = 0o755
    else:
        info.mode = 0o644
    return info


def archive_entries(frozen_dir: Path) -> Iterator[tuple[Path, Path]]:
    """(path on disk, relative path in the folder) of every directory and regular file to pack, in a stable order.

    krew's extractor takes regular files and directories only, so no link is packed as a link. A link to a library
    that a wheel vendors (auditwheel's ``<package>.libs/``, delocate's ``.dylibs/``: PyInstaller links
    ``_internal/libgfortran…`` → ``numpy.libs/…``) is left out, since the extension modules load those libraries
    through their own RPATH; the packaging test and the release smoke test start the binary without them. Any
    other link (macOS's framework links among them) is packed as what it points to.
    """
    root = frozen_dir.resolve()
    for directory, dirs, files in os.walk(frozen_dir, followlinks=True):
        dirs.sort()
        here = Path(directory)
        yield here, here.relative_to(frozen_dir)
        for name in sorted(files):
            path = here / name
            if path.is_symlink() and _is_vendored_library(path.resolve(), root):
                continue
            yield path, path.relative_to(frozen_dir)


def _is_vendored_library(target: Path, root: Path) -> bool:
    if not target.is_file() or not target.is_relative_to(root):
        return False
    folder = target.parent.name
    return folder.endswith(".libs") or folder == ".dylibs"


def write_archive(frozen_dir: Path, archive: Path) -> None:
    """Write ``kubectl-rollouts_profile/`` (the frozen folder) and ``LICENSE`` into a .tar.gz."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT, dereference=True) as tar:
        for path, relative in archive_entries(frozen_dir):
            tar.add(path, arcname=(Path(PLUGIN_BIN) / relative).as_posix(), recursive=False, filter=_tar_filter)
        tar.add(REPO / LICENSE, arcname=LICENSE, filter=_tar_filter)
    archive.parent.mkdir(parents=True, exist_ok=True)
    temp = archive.with_name(f".{archive.name}.tmp")
    with open(temp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(buffer.getvalue())
    os.replace(temp, archive)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=REPO / "dist", help="where the archive goes")
    args = parser.parse_args(argv)

    os_name, arch = host_platform()
    archive = args.dist / archive_name(os_name, arch)
    with tempfile.TemporaryDirectory(prefix="krew-build-") as work:
        python = clean_environment(Path(work))
        print(f"building v{project_version(python)} for {os_name}/{arch}", file=sys.stderr)
        write_archive(freeze(python, Path(work)), archive)
    print(f"sha256 {sha256_of(archive)}", file=sys.stderr)
    print(archive)
    return 0


if __name__ == "__main__":
    sys.exit(main())
