"""The process's surroundings (streams, terminal-ness, environment variables), passed in so tests can fake them."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any

from kubectl_rollouts_profile.safe import terminal_lines


@dataclass(frozen=True)
class Environment:
    stdout: IO[Any] = field(default_factory=lambda: sys.stdout)
    stderr: IO[Any] = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def stdout_isatty(self) -> bool:
        return _isatty(self.stdout)

    @property
    def stderr_isatty(self) -> bool:
        return _isatty(self.stderr)

    @property
    def in_ci(self) -> bool:
        return bool(self.environ.get("CI")) or bool(self.environ.get("KUBERNETES_SERVICE_HOST"))

    def message(self, text: str) -> None:
        """A line for the person or the log: always stderr, never stdout. Whatever it quotes (a member name, a
        label value, an error from a server) reaches the terminal with control characters shown escaped."""
        print(terminal_lines(text), file=self.stderr, flush=True)

    def result(self, text: str) -> None:
        """A line of result data (paths, tables, JSON): stdout. A path with bytes that are not UTF-8 is written
        with those bytes, so a script can open it."""
        try:
            print(text, file=self.stdout, flush=True)
        except UnicodeEncodeError:
            buffer = getattr(self.stdout, "buffer", None)
            if buffer is None:
                raise
            buffer.write(text.encode("utf-8", "surrogateescape") + b"\n")
            buffer.flush()


def _isatty(stream: IO[Any]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
