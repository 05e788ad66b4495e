"""Build the krew release archive for this machine's OS/arch and write its uri and sha256 into the krew manifest.

Run it once per platform (on a runner of that OS/arch): ``python krew/build.py --manifest plugin.yaml``. Each run
adds or replaces the manifest's entry for its own platform, so runs on several runners fill in every platform.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import platform
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PLUGIN_BIN = "kubectl-rollouts_profile"
COMPLETION_BIN = "kubectl_complete-rollouts_profile"
DEFAULT_URI = (
    "https://github.com/argoproj-labs/kubectl-rollouts-profile/releases/download/{tag}/{archive}"
)
# kubectl (>= 1.26) runs kubectl_complete-<plugin> with the words typed after the plugin name; the plugin answers
# in Cobra's __complete format. PATH lookup is enough: kubectl found the plugin on PATH in the first place.
COMPLETION_SCRIPT = """#!/bin/sh
# Shell completion for `kubectl rollouts-profile` (kubectl >= 1.26 runs this file; see the krew caveats).
exec kubectl-rollouts_profile __complete "$@"
"""
# Test and type-checking tools that PyInstaller's hooks would otherwise drag in through pydantic's plugins.
EXCLUDED_MODULES = ("hypothesis", "mypy", "pytest", "_pytest", "tkinter", "aiohttp", "pip", "setuptools")
ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def host_platform() -> tuple[str, str]:
    """krew's (os, arch) names for this machine."""
    machine = platform.machine().lower()
    if machine not in ARCHES:
        raise SystemExit(f"unsupported architecture {machine!r}")
    return sys.platform if sys.platform != "win32" else "windows", ARCHES[machine]


def project_version() -> str:
    sys.path.insert(0, str(REPO))
    from kubectl_rollouts_profile import __version__

    return __version__


def freeze(work_dir: Path) -> Path:
    """Run PyInstaller (one-folder mode) and return the folder holding the executable and its _internal/."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        raise SystemExit("PyInstaller is not installed in this Python: pip install pyinstaller") from None
    command = [
        sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN", "--onedir",
        "--name", PLUGIN_BIN,
        "--distpath", str(work_dir / "dist"), "--workpath", str(work_dir / "build"),
        "--specpath", str(work_dir), "--paths", str(REPO),
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


def write_archive(frozen_dir: Path, archive: Path) -> None:
    """Write ``kubectl-rollouts_profile/`` (the frozen folder) and the completion script into a .tar.gz."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        paths = [frozen_dir, *sorted(frozen_dir.rglob("*"))]
        for path in paths:
            name = (Path(PLUGIN_BIN) / path.relative_to(frozen_dir)).as_posix()
            tar.add(path, arcname=name, recursive=False, filter=_tar_filter)
        script = COMPLETION_SCRIPT.encode()
        info = _tar_filter(tarfile.TarInfo(COMPLETION_BIN))
        info.size, info.mode = len(script), 0o755
        tar.addfile(info, io.BytesIO(script))
    archive.parent.mkdir(parents=True, exist_ok=True)
    temp = archive.with_name(f".{archive.name}.tmp")
    with open(temp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(buffer.getvalue())
    os.replace(temp, archive)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def platform_entry(os_name: str, arch: str, uri: str, sha256: str) -> dict[str, Any]:
    return {
        "selector": {"matchLabels": {"os": os_name, "arch": arch}},
        "uri": uri,
        "sha256": sha256,
        # Everything at the archive's top level (the frozen folder and the completion helper) goes to the install dir.
        "files": [{"from": "*", "to": "."}],
        "bin": f"{PLUGIN_BIN}/{PLUGIN_BIN}",
    }


def update_manifest(manifest: Path, version: str, entry: dict[str, Any]) -> None:
    """Set spec.version and add or replace the platform entry with the same selector; keep everything else."""
    import yaml

    document = yaml.safe_load(manifest.read_text())
    spec = document["spec"]
    spec["version"] = f"v{version}"
    platforms = [p for p in spec.get("platforms") or [] if p.get("selector") != entry["selector"]]
    platforms.append(entry)
    platforms.sort(key=lambda p: (p["selector"]["matchLabels"]["os"], p["selector"]["matchLabels"]["arch"]))
    spec["platforms"] = platforms

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    rendered = yaml.dump(document, Dumper=Dumper, sort_keys=False, width=110)
    temp = manifest.with_name(f".{manifest.name}.tmp")
    temp.write_text(rendered)
    os.replace(temp, manifest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=REPO / "plugin.yaml", help="krew manifest to update")
    parser.add_argument("--dist", type=Path, default=REPO / "dist", help="where the archive goes")
    parser.add_argument("--uri", default=DEFAULT_URI, help="download URL template ({tag}, {archive})")
    args = parser.parse_args(argv)

    version = project_version()
    os_name, arch = host_platform()
    archive = args.dist / f"{PLUGIN_BIN}_{os_name}_{arch}.tar.gz"
    with tempfile.TemporaryDirectory(prefix="krew-build-") as work:
        frozen = freeze(Path(work))
        write_archive(frozen, archive)
        shutil.rmtree(frozen)
    sha256 = sha256_of(archive)
    uri = args.uri.format(tag=f"v{version}", archive=archive.name)
    update_manifest(args.manifest, version, platform_entry(os_name, arch, uri, sha256))
    print(archive)
    print(f"sha256 {sha256}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
