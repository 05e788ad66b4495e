"""The real Go pprof target for the tests and the demo: build it once, start it on free loopback ports.

The binary is built from tests/gotarget with the Go toolchain (Debian's golang-go) into .cache/bin, an ignored
folder; it is rebuilt when the source is newer than the binary.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE_DIR = REPO / "tests" / "gotarget"
BINARY = REPO / ".cache" / "bin" / "gotarget"


def build_gotarget() -> Path:
    """Return the path of an up-to-date gotarget binary, building it when needed."""
    # The target's own files and the stand-in packages under upstream/ (their own go.mod files included).
    sources = list(SOURCE_DIR.rglob("*.go")) + list(SOURCE_DIR.rglob("go.mod"))
    newest_source = max(path.stat().st_mtime for path in sources)
    if BINARY.exists() and BINARY.stat().st_mtime >= newest_source:
        return BINARY
    go = shutil.which("go")
    if go is None:
        raise RuntimeError("the Go toolchain is missing: run scripts/setup.sh (installs golang-go)")
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOFLAGS="-mod=mod", CGO_ENABLED="0")
    env.setdefault("GOCACHE", str(REPO / ".cache" / "go-build"))
    subprocess.run([go, "build", "-o", str(BINARY), "."], cwd=SOURCE_DIR, env=env, check=True)
    return BINARY


@dataclass
class GoTarget:
    """A running gotarget process: ``base_url`` is its pprof server, ``metrics_url`` its metrics server."""

    process: subprocess.Popen
    pprof_addr: str
    metrics_addr: str | None
    args: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://{self.pprof_addr}"

    @property
    def pprof_port(self) -> int:
        return int(self.pprof_addr.rsplit(":", 1)[1])

    @property
    def metrics_port(self) -> int | None:
        return int(self.metrics_addr.rsplit(":", 1)[1]) if self.metrics_addr else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


def start_gotarget(*extra_args: str, layout: str = "new", metrics: bool = False) -> GoTarget:
    """Start gotarget on free loopback ports and wait until it reports its addresses."""
    binary = build_gotarget()
    args = [str(binary), "--addr", "127.0.0.1:0", "--layout", layout]
    if metrics:
        args += ["--metrics-addr", "127.0.0.1:0"]
    args += list(extra_args)
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the listeners are bound, or EOF if it failed
    words = line.split()
    if not words or words[0] != "listening":
        process.kill()
        process.wait()
        raise RuntimeError(f"gotarget did not start: {line!r}")
    metrics_addr = words[3] if len(words) >= 4 and words[2] == "metrics" else None
    return GoTarget(process=process, pprof_addr=words[1], metrics_addr=metrics_addr, args=args)
