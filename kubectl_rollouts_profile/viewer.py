"""Opening a written file for a person, and deciding whether a person is there at all: a headless host, CI or a
pipe never launches a browser."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from kubectl_rollouts_profile.environment import Environment


def person_present(env: Environment) -> bool:
    """True when someone can look at a browser window: stdout is a terminal, not CI, and a display exists."""
    if not env.stdout_isatty or env.in_ci:
        return False
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(env.environ.get("DISPLAY") or env.environ.get("WAYLAND_DISPLAY") or env.environ.get("BROWSER"))


def _browser_command(environ: dict[str, str] | None = None) -> list[str] | None:
    environ = dict(os.environ if environ is None else environ)
    # $BROWSER is a ":"-separated list of commands, "%s" standing for the URL (the convention webbrowser follows).
    for candidate in filter(None, environ.get("BROWSER", "").split(os.pathsep)):
        words = shlex.split(candidate)
        if words and shutil.which(words[0], path=environ.get("PATH")):
            return words
    for opener in ("xdg-open", "open"):
        found = shutil.which(opener, path=environ.get("PATH"))
        if found:
            return [found]
    return None


def open_file(path: Path, viewer: str = "html", *, environ: dict[str, str] | None = None) -> bool:
    """Launch a viewer for ``path`` without waiting for it; False when none could be started.
    ``viewer`` is "html" (the default browser) or "speedscope" (its CLI, when on PATH)."""
    path = Path(path).resolve()
    env_vars = dict(os.environ if environ is None else environ)
    if viewer == "speedscope":
        speedscope = shutil.which("speedscope", path=env_vars.get("PATH"))
        if speedscope is None:
            return False
        command = [speedscope, str(path)]
    else:
        browser = _browser_command(env_vars)
        if browser is None:
            return False
        url = path.as_uri()
        command = [word.replace("%s", url) for word in browser] if any("%s" in w for w in browser) else [*browser, url]
    try:
        subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, env=env_vars,
        )  # fmt: skip
    except OSError:
        return False
    return True
