#!/usr/bin/env python3
"""Regenerate the upstream Go package lists the analysis catalog is checked against (tests/data/upstream/).

Each list is read from a git checkout or bare git directory of the upstream repository at one ref: the
directories that hold non-test .go files (Go's rules: testdata/, vendor/, and directories starting with "_" or
"." are no packages; nested modules are left out), one per line below a header naming the repository, the Go
module, the ref and its commit.

    scripts/upstream-packages.py list GIT_DIR REF --repo argoproj/argo-rollouts > FILE
    scripts/upstream-packages.py all --git-dir argoproj/argo-rollouts=DIR --git-dir argoproj/notifications-engine=DIR \\
        --git-dir argoproj/pkg=DIR --git-dir kubernetes/client-go=DIR --git-dir kubernetes/apimachinery=DIR \\
        --git-dir prometheus/client_golang=DIR --out tests/data/upstream/packages

``all`` takes the refs users run: argo-rollouts' newest v1.8.x, v1.9.x and v1.10.x tags (a release candidate when
no final release exists yet) and master; the notifications-engine, argoproj/pkg and client_golang versions each
of those pins in its go.mod; client-go and apimachinery's newest v0.29.x ... v0.34.x tags.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath

ARGO_MINORS = ("1.8", "1.9", "1.10")
KUBE_MINORS = tuple(f"0.{minor}" for minor in range(29, 35))
PINNED = ("github.com/argoproj/notifications-engine", "github.com/argoproj/pkg", "github.com/prometheus/client_golang")


def git(git_dir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", git_dir, *args], check=True, capture_output=True, text=True).stdout


def resolve_git_dir(path: str) -> str:
    """A checkout's .git or a bare repository."""
    return str(Path(path) / ".git") if (Path(path) / ".git").exists() else path


def packages(git_dir: str, ref: str) -> list[str]:
    files = git(git_dir, "ls-tree", "-r", "--name-only", ref).splitlines()
    nested_modules = {str(PurePosixPath(name).parent) for name in files if name.endswith("/go.mod")}
    found = set()
    for name in files:
        path = PurePosixPath(name)
        if path.suffix != ".go" or path.name.endswith("_test.go"):
            continue
        parts = path.parent.parts
        if any(part in ("testdata", "vendor") or part.startswith(("_", ".")) for part in parts):
            continue
        directory = str(path.parent)
        if any(directory == module or directory.startswith(module + "/") for module in nested_modules):
            continue
        found.add(directory)
    return sorted(found)


def module_path(git_dir: str, ref: str) -> str:
    go_mod = git(git_dir, "show", f"{ref}:go.mod")
    found = re.search(r"^module\s+(\S+)", go_mod, re.MULTILINE)
    if not found:
        raise SystemExit(f"{ref}: go.mod names no module")
    return found.group(1)


def render(git_dir: str, ref: str, repo: str) -> str:
    commit = git(git_dir, "rev-parse", f"{ref}^{{commit}}").strip()
    lines = [f"# repo: {repo}", f"# module: {module_path(git_dir, ref)}", f"# ref: {ref}", f"# commit: {commit}",
             "# directories holding non-test .go files (see scripts/upstream-packages.py)"]  # fmt: skip
    return "\n".join(lines + packages(git_dir, ref)) + "\n"


def _version_key(tag: str) -> tuple:
    core, _, pre = tag.lstrip("v").partition("-")
    return (tuple(int(part) for part in core.split(".")), pre == "", pre)


def newest_tag(git_dir: str, minor: str) -> str:
    prefix = f"v{minor}."
    tags = [tag for tag in git(git_dir, "tag", "--list", f"{prefix}*").split()
            if re.fullmatch(re.escape(prefix) + r"\d+(-rc\d+)?", tag)]  # fmt: skip
    if not tags:
        raise SystemExit(f"no v{minor}.x tag")
    return max(tags, key=_version_key)


def pinned_ref(git_dir: str, version: str) -> str:
    """A go.mod version as a git ref: a tag, or the commit of a pseudo-version (v0.4.1-0.2024...-7a069766e954)."""
    pseudo = re.fullmatch(r"v[\d.]+-(?:[\w.]+\.)?\d{14}-([0-9a-f]{12})", version)
    return git(git_dir, "rev-parse", pseudo.group(1) + "^{commit}").strip() if pseudo else version


def pins(git_dir: str, ref: str) -> dict[str, str]:
    go_mod = git(git_dir, "show", f"{ref}:go.mod")
    return {module: found.group(1) for module in PINNED
            if (found := re.search(rf"^\s*{re.escape(module)}\s+(v\S+)", go_mod, re.MULTILINE))}  # fmt: skip


def write(out: Path, name: str, text: str) -> None:
    (out / name).write_text(text)
    print(f"wrote {out / name}", file=sys.stderr)


def generate_all(git_dirs: dict[str, str], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    argo = git_dirs["argoproj/argo-rollouts"]
    argo_refs = [newest_tag(argo, minor) for minor in ARGO_MINORS] + ["master"]
    pinned: dict[str, set[str]] = {module: set() for module in PINNED}
    for ref in argo_refs:
        write(out, f"argo-rollouts@{ref}.txt", render(argo, ref, "argoproj/argo-rollouts"))
        for module, version in pins(argo, ref).items():
            pinned[module].add(version)
    for module, versions in pinned.items():
        repo = module.removeprefix("github.com/")
        for version in sorted(versions):
            ref = pinned_ref(git_dirs[repo], version)
            text = render(git_dirs[repo], ref, repo).replace(f"# ref: {ref}", f"# ref: {version}")
            write(out, f"{repo.split('/')[1]}@{version}.txt", text)
    for repo in ("kubernetes/client-go", "kubernetes/apimachinery"):
        for minor in KUBE_MINORS:
            ref = newest_tag(git_dirs[repo], minor)
            write(out, f"{repo.split('/')[1]}@{ref}.txt", render(git_dirs[repo], ref, repo))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("list", help="print one list")
    one.add_argument("git_dir")
    one.add_argument("ref")
    one.add_argument("--repo", required=True, help="owner/name, written into the header")
    every = commands.add_parser("all", help="write every list the catalog is checked against")
    every.add_argument("--git-dir", action="append", default=[], metavar="OWNER/NAME=DIR", required=True)
    every.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "list":
        sys.stdout.write(render(resolve_git_dir(args.git_dir), args.ref, args.repo))
        return
    git_dirs = dict(item.split("=", 1) for item in args.git_dir)
    generate_all({repo: resolve_git_dir(path) for repo, path in git_dirs.items()}, args.out)


if __name__ == "__main__":
    main()
