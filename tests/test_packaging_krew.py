"""The krew manifest and the release archive: build it, install it the way krew does, run it through real kubectl."""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubectl_rollouts_profile import __version__
from kubectl_rollouts_profile.cli import main
from kubectl_rollouts_profile.cli.runbook_cmds import cobra_completions

REPO = Path(__file__).resolve().parent.parent
KUBECTL = shutil.which("kubectl")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Build:
    archive: Path
    manifest: dict
    install_dir: Path  # the archive after krew's file operations
    bin_dir: Path  # krew's bin folder: a symlink to the plugin's bin, as `krew install` makes it


def _platform(manifest: dict, archive: Path) -> dict:
    matches = [p for p in manifest["spec"]["platforms"] if p["uri"].endswith("/" + archive.name)]
    assert len(matches) == 1, f"no single platform entry for {archive.name}"
    return matches[0]


def _krew_install(archive: Path, platform: dict, root: Path) -> Path:
    """Unpack, then apply the manifest's `files` operations (glob `from`, move into `to`) as krew does."""
    unpacked, install_dir = root / "unpacked", root / "store"
    unpacked.mkdir()
    install_dir.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="tar")
    for operation in platform["files"]:
        sources = glob.glob(str(unpacked / operation["from"]))
        assert sources, f"files entry {operation['from']!r} matches nothing in the archive"
        target = install_dir / operation["to"]
        target.mkdir(parents=True, exist_ok=True)
        for source in sources:
            shutil.move(source, target / Path(source).name)
    return install_dir


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Build]:
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        pytest.fail("the release build needs PyInstaller: pip install pyinstaller")
    root = tmp_path_factory.mktemp("krew")
    manifest_path = root / "plugin.yaml"
    shutil.copy(REPO / "plugin.yaml", manifest_path)
    result = subprocess.run(
        [sys.executable, str(REPO / "krew" / "build.py"), "--manifest", str(manifest_path), "--dist",
         str(root / "dist")],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    archive = Path(result.stdout.strip().splitlines()[-1])
    manifest = yaml.safe_load(manifest_path.read_text())
    platform = _platform(manifest, archive)
    install_dir = _krew_install(archive, platform, root)
    bin_dir = root / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl-rollouts_profile").symlink_to(install_dir / platform["bin"])
    yield Build(archive=archive, manifest=manifest, install_dir=install_dir, bin_dir=bin_dir)


def _isolated_path(*dirs: Path) -> str:
    """PATH with the given folders and kubectl's, but not the venv (whose editable install would also match)."""
    assert KUBECTL is not None
    return os.pathsep.join([*map(str, dirs), str(Path(os.path.realpath(KUBECTL)).parent), "/usr/bin", "/bin"])


def check_manifest(manifest: dict) -> None:
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert manifest["kind"] == "Plugin"
    assert manifest["metadata"]["name"] == "rollouts-profile"
    spec = manifest["spec"]
    assert spec["version"] == f"v{__version__}"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", spec["version"])
    assert spec["shortDescription"].strip() and "\n" not in spec["shortDescription"].strip()
    assert spec["description"].strip() and spec["caveats"].strip()
    assert spec["homepage"].startswith("https://")
    assert spec["platforms"], "no platform entries"
    for platform in spec["platforms"]:
        labels = platform["selector"]["matchLabels"]
        assert labels["os"] in {"linux", "darwin", "windows"} and labels["arch"] in {"amd64", "arm64"}
        assert platform["uri"].startswith("https://") and platform["uri"].endswith(".tar.gz")
        assert f"/{spec['version']}/" in platform["uri"]
        assert SHA256.match(platform["sha256"]), platform["sha256"]
        assert platform["bin"] and not platform["bin"].startswith("/")
        assert platform["files"] and all(op["from"] and op["to"] for op in platform["files"])


def test_committed_manifest_is_a_valid_krew_plugin() -> None:
    check_manifest(yaml.safe_load((REPO / "plugin.yaml").read_text()))


def test_built_manifest_is_valid_and_its_sha256_matches_the_archive(build: Build) -> None:
    check_manifest(build.manifest)
    platform = _platform(build.manifest, build.archive)
    assert platform["sha256"] == hashlib.sha256(build.archive.read_bytes()).hexdigest()


def test_every_bin_and_files_entry_exists_after_install(build: Build) -> None:
    platform = _platform(build.manifest, build.archive)
    binary = build.install_dir / platform["bin"]
    assert binary.is_file() and os.access(binary, os.X_OK)
    helper = build.install_dir / "kubectl_complete-rollouts_profile"
    assert helper.is_file() and os.access(helper, os.X_OK)


def test_archive_entries_are_relative_and_owned_by_root(build: Build) -> None:
    with tarfile.open(build.archive) as tar:
        members = tar.getmembers()
    assert members
    assert all(not m.name.startswith("/") and ".." not in Path(m.name).parts for m in members)
    assert {(m.uid, m.gid) for m in members} == {(0, 0)}


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_plugin_list_shows_the_installed_plugin(build: Build) -> None:
    env = dict(os.environ, PATH=_isolated_path(build.bin_dir))
    listed = subprocess.run([KUBECTL, "plugin", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert str(build.bin_dir / "kubectl-rollouts_profile") in listed.stdout
    assert "warning" not in listed.stderr.lower(), listed.stderr


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_runs_the_frozen_plugin(build: Build) -> None:
    env = dict(os.environ, PATH=_isolated_path(build.bin_dir))
    version = subprocess.run([KUBECTL, "rollouts-profile", "--version"], capture_output=True, text=True, env=env,
                             timeout=60)
    assert version.returncode == 0, version.stderr
    assert __version__ in version.stdout
    helptext = subprocess.run([KUBECTL, "rollouts-profile", "--help"], capture_output=True, text=True, env=env,
                              timeout=60)
    assert helptext.returncode == 0 and "goroutine" in helptext.stdout


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_completes_plugin_commands_through_the_shipped_helper(build: Build) -> None:
    helper_dir = build.bin_dir.parent / "completion-bin"
    helper_dir.mkdir(exist_ok=True)
    link = helper_dir / "kubectl_complete-rollouts_profile"
    if not link.exists():
        link.symlink_to(build.install_dir / "kubectl_complete-rollouts_profile")
    env = dict(os.environ, PATH=_isolated_path(build.bin_dir, helper_dir))
    completed = subprocess.run([KUBECTL, "__complete", "rollouts-profile", "cp"], capture_output=True, text=True,
                               env=env, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert [line.split("\t")[0] for line in completed.stdout.splitlines()] == ["cpu", ":4"]


def test_cobra_completions_list_commands_and_options() -> None:
    commands = cobra_completions(main, [""])
    assert commands[-1] == ":4"
    names = {line.split("\t")[0] for line in commands[:-1]}
    assert {"cpu", "heap", "goroutine"} <= names
    assert "__complete" not in names
    assert cobra_completions(main, ["--vers"]) == ["--version\tShow the version and exit.", ":4"]


def test_hidden_complete_command_prints_cobra_format() -> None:
    result = CliRunner().invoke(main, ["__complete", "--vers"])
    assert result.exit_code == 0
    assert result.output.splitlines() == ["--version\tShow the version and exit.", ":4"]


def test_click_shell_completion_script_is_generated() -> None:
    result = CliRunner().invoke(main, [], prog_name="kubectl-rollouts_profile",
                                env={"_KUBECTL_ROLLOUTS_PROFILE_COMPLETE": "bash_source"})
    assert "_KUBECTL_ROLLOUTS_PROFILE_COMPLETE=bash_complete" in result.output
