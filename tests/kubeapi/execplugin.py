"""A real exec credential plugin for tests: a Python script on disk, named in a kubeconfig's ``exec`` section, that
behaves like ``aws eks get-token`` or ``kubelogin``: it reads ``KUBERNETES_EXEC_INFO``, prints an ExecCredential
with the next token from its list (and an expirationTimestamp), or fails with a message on stderr.

Every run appends the ExecCredential request it got to ``runs.jsonl``, so tests can count runs and check
``spec.interactive``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

API_VERSION = "client.authentication.k8s.io/v1"

_SCRIPT = '''\
#!{python}
import datetime, json, os, sys

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "plugin.json")) as f:
    conf = json.load(f)
request = json.loads(os.environ.get("KUBERNETES_EXEC_INFO") or "{{}}")
with open(os.path.join(here, "runs.jsonl"), "a") as f:
    f.write(json.dumps(request) + "\\n")
if conf.get("fail"):
    sys.stderr.write(conf["fail"])
    sys.exit(conf.get("exit_code", 1))
with open(os.path.join(here, "runs.jsonl")) as f:
    runs = sum(1 for _ in f)
tokens = conf["tokens"]
status = {{"token": tokens[min(runs, len(tokens)) - 1]}}
if conf.get("expires_in") is not None:
    expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=conf["expires_in"])
    status["expirationTimestamp"] = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
print(json.dumps({{"apiVersion": request.get("apiVersion", "{api_version}"), "kind": "ExecCredential",
                  "status": status}}))
'''


@dataclass(frozen=True)
class ExecPluginScript:
    """The plugin's directory: ``get-token`` (the script), ``plugin.json`` (its behaviour), ``runs.jsonl``."""

    directory: Path

    @property
    def command(self) -> Path:
        return self.directory / "get-token"

    def configure(self, *, tokens: tuple[str, ...] | list[str] = (), fail: str | None = None, exit_code: int = 1,
                  expires_in: float | None = 3600) -> None:
        (self.directory / "plugin.json").write_text(json.dumps(
            {"tokens": list(tokens), "fail": fail, "exit_code": exit_code, "expires_in": expires_in}))

    def runs(self) -> list[dict]:
        log = self.directory / "runs.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def user_entry(self, *, interactive_mode: str | None = "IfAvailable", command: str | None = None,
                   install_hint: str | None = None) -> dict:
        """The kubeconfig ``user`` with this plugin in its ``exec`` section."""
        section: dict = {"apiVersion": API_VERSION, "command": command or str(self.command),
                         "args": ["eks", "get-token", "--cluster-name", "test"]}
        if interactive_mode is not None:
            section["interactiveMode"] = interactive_mode
        if install_hint is not None:
            section["installHint"] = install_hint
        return {"exec": section}


def make_exec_plugin(directory: Path) -> ExecPluginScript:
    directory.mkdir(parents=True, exist_ok=True)
    plugin = ExecPluginScript(directory)
    plugin.command.write_text(_SCRIPT.format(python=sys.executable, api_version=API_VERSION))
    plugin.command.chmod(0o755)
    plugin.configure()
    return plugin
