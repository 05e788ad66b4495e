"""The krew release: build the archive from a clean environment, unpack it the way krew's extractor does (regular
files and directories only), install it through krew's symlink, run it through real kubectl, and write the manifest
from the template."""

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
PLATFORMS = [("darwin", "amd64"), ("darwin", "arm64"), ("linux", "amd64"), ("linux", "arm64")]
TAG = f"v{__version__}"
# krew's default `files` operation (the manifest leaves it out, as krew-index reviewers ask).
DEFAULT_FILES = [{"from": "*", "to": "."}]


@dataclass(frozen=True)
class Build:
    archive: Path
    manifest: dict
    root: Path  # KREW_ROOT: store/<plugin>/<version>/ and bin/, as `krew install` lays them out
    install_dir: Path

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"


def _platform(manifest: dict, archive: Path) -> dict:
    matches = [p for p in manifest["spec"]["platforms"] if p["uri"].endswith("/" + archive.name)]
    assert len(matches) == 1, f"no single platform entry for {archive.name}"
    return matches[0]


def _krew_extract(archive: Path, into: Path) -> None:
    """Unpack as krew's extractor does: a directory or a regular file, anything else is refused ("unable to handle
    file type"), and no name may leave the folder."""
    with tarfile.open(archive) as tar:
        for member in tar:
            assert member.type in (tarfile.DIRTYPE, tarfile.REGTYPE), (
                f"krew cannot unpack {member.name}: unable to handle file type {member.type!r}")
            assert not member.name.startswith("/") and ".." not in Path(member.name).parts, member.name
        tar.extractall(into, filter="data")


def _krew_install(archive: Path, platform: dict, root: Path, version: str) -> Path:
    """Unpack, apply the manifest's `files` operations (glob `from`, move into `to`), link `bin` from bin/."""
    unpacked, install_dir = root / "download" / version, root / "store" / "rollouts-profile" / version
    unpacked.mkdir(parents=True)
    install_dir.mkdir(parents=True)
    _krew_extract(archive, unpacked)
    for operation in platform.get("files") or DEFAULT_FILES:
        sources = glob.glob(str(unpacked / operation["from"]))
        assert sources, f"files entry {operation['from']!r} matches nothing in the archive"
        target = install_dir / operation["to"]
        target.mkdir(parents=True, exist_ok=True)
        for source in sources:
            shutil.move(source, target / Path(source).name)
    link = root / "bin" / "kubectl-rollouts_profile"
    link.parent.mkdir(exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(install_dir / platform["bin"])
    return install_dir


WORKFLOW = REPO / ".github" / "workflows" / "release.yml"
# Steps of the release workflow that only run on GitHub (besides every `uses:` action): the container's set-up and
# the publication.
GITHUB_ONLY_STEPS = {"Install the build tools in the container", "Publish the release"}


@dataclass(frozen=True)
class StepRun:
    name: str
    returncode: int
    stdout: str
    stderr: str


def _expand(value: str, contexts: dict[str, dict[str, str]]) -> str:
    """``${{ context.name }}`` from ``contexts``; what only GitHub has (``github.token``) is empty here."""
    return re.sub(r"\$\{\{\s*(\w+)\.(\w+)\s*\}\}", lambda m: contexts.get(m[1], {}).get(m[2], ""), value)


def run_workflow_job(job_name: str, matrix: dict[str, str], workspace: Path, extra_env: dict[str, str]
                     ) -> list[StepRun]:
    """Run one job of the release workflow here as GitHub would (bash -eo pipefail, the workflow's and the job's
    env, the matrix), skipping actions and GITHUB_ONLY_STEPS; stop at the first failing step."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    job = workflow["jobs"][job_name]
    contexts: dict[str, dict[str, str]] = {"matrix": matrix, "github": {"ref_name": TAG}, "env": {}}
    env = dict(os.environ)
    for scope in (workflow.get("env") or {}, job.get("env") or {}):
        for key, value in scope.items():
            env[key] = contexts["env"][key] = _expand(str(value), contexts)
    env.update(extra_env)
    runs = []
    for step in job["steps"]:
        if "run" not in step or step.get("name") in GITHUB_ONLY_STEPS:
            continue
        assert "${{" not in step["run"], f"step {step['name']!r}: scripts take values through env"
        result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                                cwd=workspace, env=env, capture_output=True, text=True, timeout=1800)
        runs.append(StepRun(step["name"], result.returncode, result.stdout, result.stderr))
        if result.returncode != 0:
            break
    return runs


def _workspace(root: Path) -> Path:
    """A checkout of the project as the runner has it (no venv, caches or build output)."""
    ignored = shutil.ignore_patterns(".git", ".venv", ".cache", "build", "dist", "*.egg-info", "__pycache__",
                                     "node_modules", ".mypy_cache", ".ruff_cache", ".pytest_cache", "out")
    return Path(shutil.copytree(REPO, root / "workspace", ignore=ignored))


@pytest.fixture(scope="module")
def linux_job(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[StepRun]]:
    """The release workflow's linux/amd64 job, run here as far as it goes."""
    root = tmp_path_factory.mktemp("release")
    workspace = _workspace(root)
    runner_temp = root / "runner-temp"
    runner_temp.mkdir()
    env = {"PYTHON": sys.executable, "RUNNER_TEMP": str(runner_temp),
           "GOCACHE": os.environ.get("GOCACHE", str(REPO / ".cache" / "go-build"))}
    return workspace, run_workflow_job("linux", {"arch": "amd64"}, workspace, env)


def _render_manifest(dist: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "krew" / "manifest.py"), "--tag", TAG, "--dist", str(dist),
                           "-o", str(out)], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def build(linux_job: tuple[Path, list[StepRun]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Build]:
    workspace, runs = linux_job
    assert [run.name for run in runs][:2] == ["The tag names the package's version",
                                             "Build the archive from a clean environment"]
    assert all(run.returncode == 0 for run in runs[:2]), runs[-1].stderr[-3000:]
    dist = workspace / "dist"
    archive = dist / "kubectl-rollouts_profile_linux_amd64.tar.gz"
    assert runs[1].stdout.strip().splitlines()[-1] == str(Path("dist") / archive.name)
    # The other runners' archives: stand-ins with their own bytes, so each platform gets its own sha256.
    for os_name, arch in PLATFORMS:
        other = dist / f"kubectl-rollouts_profile_{os_name}_{arch}.tar.gz"
        if not other.exists():
            other.write_bytes(f"{os_name}/{arch}".encode())
    publish = run_workflow_job("publish", {}, workspace, {"TAG": TAG})
    assert [(run.name, run.returncode) for run in publish] == [
        ("Write the krew manifest (every platform, with the sha256 of each archive)", 0)], publish[-1].stderr
    manifest = yaml.safe_load((dist / "rollouts-profile.yaml").read_text())
    krew_root = tmp_path_factory.mktemp("krew-root")
    install_dir = _krew_install(archive, _platform(manifest, archive), krew_root, TAG)
    yield Build(archive=archive, manifest=manifest, root=krew_root, install_dir=install_dir)


def _isolated_path(*dirs: Path) -> str:
    """PATH with the given folders and kubectl's, but not the venv (whose editable install would also match)."""
    assert KUBECTL is not None
    return os.pathsep.join([*map(str, dirs), str(Path(os.path.realpath(KUBECTL)).parent), "/usr/bin", "/bin"])


def check_manifest(manifest: dict) -> None:
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert manifest["kind"] == "Plugin"
    assert manifest["metadata"]["name"] == "rollouts-profile"
    spec = manifest["spec"]
    assert spec["version"] == TAG
    assert spec["shortDescription"].strip() and "\n" not in spec["shortDescription"].strip()
    assert len(spec["shortDescription"]) <= 60
    assert spec["homepage"].startswith("https://")
    # What and why in a few lines, not a list of commands; caveats only for what a user must do, never a path
    # under store/ (which `krew upgrade` replaces).
    assert len(spec["description"].strip().splitlines()) <= 8
    assert "--enable-pprof-address" in spec["caveats"] and "rbac" in spec["caveats"]
    assert "store/" not in spec["caveats"]
    assert [(p["selector"]["matchLabels"]["os"], p["selector"]["matchLabels"]["arch"])
            for p in spec["platforms"]] == PLATFORMS
    for platform in spec["platforms"]:
        labels = platform["selector"]["matchLabels"]
        assert platform["uri"] == (f"https://github.com/argoproj-labs/kubectl-rollouts-profile/releases/download/"
                                   f"{TAG}/kubectl-rollouts_profile_{labels['os']}_{labels['arch']}.tar.gz")
        assert SHA256.match(platform["sha256"]), platform["sha256"]
        assert platform["bin"] == "kubectl-rollouts_profile/kubectl-rollouts_profile"
        assert "files" not in platform  # krew's default moves everything: saying so again is noise


def test_manifest_lists_every_platform_with_its_archives_sha256(build: Build) -> None:
    check_manifest(build.manifest)
    dist = build.archive.parent
    for platform in build.manifest["spec"]["platforms"]:
        archive = dist / platform["uri"].rsplit("/", 1)[1]
        assert platform["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()


def test_manifest_is_refused_when_a_platforms_archive_is_missing(tmp_path: Path) -> None:
    (tmp_path / "kubectl-rollouts_profile_linux_amd64.tar.gz").write_bytes(b"x")
    result = _render_manifest(tmp_path, tmp_path / "plugin.yaml")
    assert result.returncode != 0
    assert "kubectl-rollouts_profile_darwin_amd64.tar.gz is missing" in result.stderr
    assert not (tmp_path / "plugin.yaml").exists()


def test_archive_holds_only_what_krew_unpacks_and_the_license(build: Build) -> None:
    with tarfile.open(build.archive) as tar:
        members = tar.getmembers()
    assert {m.type for m in members} == {tarfile.DIRTYPE, tarfile.REGTYPE}
    assert {(m.uid, m.gid) for m in members} == {(0, 0)}
    top = {m.name.split("/")[0] for m in members}
    assert top == {"LICENSE", "kubectl-rollouts_profile"}
    license_text = (build.install_dir / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert license_text == (REPO / "LICENSE").read_text()
    # Built from the runtime dependencies only: none of the test tools or the developer's editable checkout.
    internal = {m.name.split("/")[2] for m in members if m.name.count("/") >= 2}
    assert not internal & {"pytest", "_pytest", "hypothesis", "mypy", "aiohttp", "trustme", "PyInstaller"}
    assert "numpy" in internal  # (pure-Python packages such as kubernetes live in the executable's archive)


def test_release_job_smoke_tests_the_unpacked_archive(linux_job: tuple[Path, list[StepRun]]) -> None:
    """--version, --help, the completion script, rbac and a real capture + conversion (numpy loads without the
    links the archive leaves out)."""
    _, runs = linux_job
    smoke = next(run for run in runs if run.name == "Smoke test of the unpacked archive")
    assert smoke.returncode == 0, smoke.stderr[-3000:]
    assert "smoke: all checks passed" in smoke.stderr


def test_release_job_fails_this_build_at_the_glibc_floor(linux_job: tuple[Path, list[StepRun]]) -> None:
    """Built on this machine (Debian 12, glibc 2.36), the archive is refused against the release's floor of 2.28:
    the step is what stops a release built on a too-new system."""
    import platform

    _, runs = linux_job
    host_glibc = platform.libc_ver()[1]
    assert runs[-1].name == "GLIBC floor"
    assert runs[-1].returncode == 1
    assert runs[-1].stdout.startswith(f"GLIBC {host_glibc} needed by: ")  # 2.36 here
    assert f": GLIBC {host_glibc}" in runs[-1].stderr and "newer GLIBC than the floor 2.28" in runs[-1].stderr


def test_glibc_check_passes_at_the_build_hosts_own_glibc(build: Build) -> None:
    import platform

    check = [sys.executable, str(REPO / "krew" / "glibc_check.py"), str(build.archive),
             "--floor", platform.libc_ver()[1]]
    assert subprocess.run(check, capture_output=True, timeout=300).returncode == 0


def test_release_workflow_passes_actionlint() -> None:
    actionlint = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    assert actionlint, "actionlint is missing: scripts/setup-test-extras.sh installs it"
    result = subprocess.run([actionlint, "-no-color", str(WORKFLOW)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_lists_and_runs_the_frozen_plugin(build: Build) -> None:
    assert KUBECTL is not None
    env = dict(os.environ, PATH=_isolated_path(build.bin_dir))
    listed = subprocess.run([KUBECTL, "plugin", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert str(build.bin_dir / "kubectl-rollouts_profile") in listed.stdout
    assert "warning" not in listed.stderr.lower(), listed.stderr
    version = subprocess.run([KUBECTL, "rollouts-profile", "--version"], capture_output=True, text=True, env=env,
                             timeout=60)
    assert version.returncode == 0, version.stderr
    assert __version__ in version.stdout


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_completion_set_up_as_the_caveats_say_survives_krew_upgrade(build: Build, tmp_path: Path) -> None:
    assert KUBECTL is not None
    platform = _platform(build.manifest, build.archive)
    first = _krew_install(build.archive, platform, tmp_path, TAG)
    caveat = next(line.strip() for line in build.manifest["spec"]["caveats"].splitlines()
                  if "kubectl_complete-rollouts_profile" in line and line.strip().startswith("ln "))
    env = dict(os.environ, PATH=_isolated_path(tmp_path / "bin"), KREW_ROOT=str(tmp_path))
    subprocess.run(["sh", "-c", caveat], env=env, check=True, timeout=60)

    def complete() -> list[str]:
        completed = subprocess.run([KUBECTL, "__complete", "rollouts-profile", "cp"], capture_output=True,
                                   text=True, env=env, timeout=60)
        assert completed.returncode == 0, completed.stderr
        return [line.split("\t")[0] for line in completed.stdout.splitlines()]

    assert complete() == ["cpu", ":4"]
    # `krew upgrade`: the new version goes to its own store folder, krew re-points bin/ and deletes the old one.
    _krew_install(build.archive, platform, tmp_path, "v99.0.0")
    shutil.rmtree(first)
    assert complete() == ["cpu", ":4"]


def test_frozen_binary_prints_the_completion_script_under_the_one_variable(build: Build, tmp_path: Path) -> None:
    result = subprocess.run([str(build.bin_dir / "kubectl-rollouts_profile")], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60,
                            env=dict(os.environ, _KUBECTL_ROLLOUTS_PROFILE_COMPLETE="bash_source"))
    assert result.returncode == 0, result.stderr
    assert "complete -o nosort -F _kubectl_rollouts_profile_completion kubectl-rollouts_profile\n" in result.stdout


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


def test_license_metadata_is_spdx_and_names_the_license_file() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert "Apache License" in (REPO / "LICENSE").read_text()
