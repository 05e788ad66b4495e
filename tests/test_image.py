"""The runbook image: scripts/image.sh builds the Containerfile (here on a Debian base made from packages, with
podman's chroot isolation), and the image's exported file system runs the plugin as the image's user, entered the
way a container runtime enters it (chroot, working folder, uid/gid, the image's environment). Containers cannot run
on CI machines; a chroot of the exported file system can."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from kubectl_rollouts_profile import __version__
from tests.goproc import start_gotarget

REPO = Path(__file__).resolve().parent.parent
PODMAN = shutil.which("podman")

pytestmark = pytest.mark.skipif(PODMAN is None or os.geteuid() != 0,
                                reason="needs podman and root (scripts/setup-test-extras.sh installs podman)")


@dataclass(frozen=True)
class Image:
    reference: str
    rootfs: Path
    config: dict  # the image's Config: User, Env, Entrypoint, WorkingDir
    size: int

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run the entry point with ``args`` in the file system, as the image's user, in its working folder."""
        uid, gid = (int(part) for part in self.config["User"].split(":"))
        env = dict(item.split("=", 1) for item in self.config["Env"])
        rootfs, workdir = str(self.rootfs), self.config["WorkingDir"]

        def enter() -> None:
            os.chroot(rootfs)
            os.chdir(workdir)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)

        return subprocess.run([*self.config["Entrypoint"], *args], preexec_fn=enter, env=env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    assert PODMAN is not None
    built = subprocess.run(["bash", str(REPO / "scripts" / "image.sh"), "--debian-base"], capture_output=True,
                           text=True, timeout=1800)
    assert built.returncode == 0, built.stderr[-3000:]
    reference = built.stdout.strip().splitlines()[-1]
    assert reference == f"localhost/kubectl-rollouts-profile:v{__version__}"
    inspected = json.loads(subprocess.run([PODMAN, "image", "inspect", reference], capture_output=True, text=True,
                                          check=True).stdout)[0]
    root = tmp_path_factory.mktemp("image")
    container = subprocess.run([PODMAN, "create", reference], capture_output=True, text=True,
                               check=True).stdout.strip()
    try:
        subprocess.run([PODMAN, "export", "--output", str(root / "fs.tar"), container], check=True)
    finally:
        subprocess.run([PODMAN, "rm", container], capture_output=True)
    rootfs = root / "rootfs"
    rootfs.mkdir()
    with tarfile.open(root / "fs.tar") as tar:
        tar.extractall(rootfs, numeric_owner=True, filter="fully_trusted")  # an image's own links are absolute
    (root / "fs.tar").unlink()
    size = int(inspected["Size"])
    print(f"\nimage {reference}: {size / 1e6:.0f} MB", file=sys.stderr)
    yield Image(reference=reference, rootfs=rootfs, config=inspected["Config"], size=size)


def _written_outside(rootfs: Path, since: float, allowed: Path) -> list[str]:
    written = []
    for directory, dirs, files in os.walk(rootfs):
        here = Path(directory)
        if here == allowed:
            dirs.clear()
            continue
        for name in [*dirs, *files]:
            path = here / name
            if path != allowed and path.lstat().st_mtime >= since:
                written.append(str(path.relative_to(rootfs)))
    return written


def test_image_runs_as_a_non_root_user_with_the_plugin_as_entry_point(image: Image) -> None:
    assert image.config["User"] == "65532:65532"
    assert image.config["Entrypoint"] == ["kubectl-rollouts_profile"]
    version = image.run("--version")
    assert version.returncode == 0, version.stderr
    assert __version__ in version.stdout


def test_image_holds_the_runtime_dependencies_only(image: Image) -> None:
    site = next((image.rootfs / "opt" / "kubectl-rollouts-profile" / "lib").glob("python3.*/site-packages"))
    installed = {path.name.split("-")[0].lower() for path in site.glob("*.dist-info")}
    assert {"kubernetes", "numpy", "protobuf", "click", "pyyaml"} <= installed
    assert not installed & {"pytest", "hypothesis", "mypy", "ruff", "pyinstaller", "pip", "setuptools"}
    assert (image.rootfs / "usr/share/doc/kubectl-rollouts-profile/LICENSE").is_file()


def test_image_captures_from_a_pprof_server_writing_only_to_its_working_folder(image: Image) -> None:
    """A real capture over --url, as uid 65532, on a root file system it cannot write (nothing else is written)."""
    workdir = image.rootfs / image.config["WorkingDir"].lstrip("/")
    marker = image.rootfs.parent / "capture-started"  # beside the file system: the clock of this file system
    marker.touch()
    started = marker.stat().st_mtime
    target = start_gotarget()
    try:
        result = image.run("heap", "--url", target.base_url, "--format", "top", "--json")
    finally:
        target.stop()
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    saved = workdir / report["files"]["pprof"]
    assert saved.is_file() and saved.stat().st_uid == 65532 and report["samples"] > 0
    assert _written_outside(image.rootfs, started, workdir) == []


def test_job_example_runs_the_image_as_its_user_on_a_read_only_root(image: Image) -> None:
    documents = list(yaml.safe_load_all((REPO / "docs" / "job-example.yaml").read_text()))
    pod = next(doc for doc in documents if doc["kind"] == "Job")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"].endswith(f"/kubectl-rollouts-profile:v{__version__}")
    assert f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}" == image.config["User"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert [mount["mountPath"] for mount in container["volumeMounts"]] == [image.config["WorkingDir"]]
    assert "command" not in container  # the image's entry point is the plugin
    helptext = image.run(container["args"][0], "--help")
    assert helptext.returncode == 0, helptext.stderr
    options = [arg for arg in container["args"][1:] if arg.startswith("--")]
    assert all(option in helptext.stdout for option in options)
