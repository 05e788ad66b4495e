"""The demo behind scripts/demo.sh: a local stand-in for a cluster running Argo Rollouts, profiled by the plugin.

It starts the real Go pprof target and the project's loopback test API server holding an ``argo-rollouts``
namespace (two controller pods and a dashboard pod, the Lease naming the second replica as leader, pprof enabled),
then runs ``kubectl rollouts-profile targets``, ``cpu --seconds 5`` and ``heap`` with a kubeconfig pointing there,
and stops everything. The plugin's stdout (the written paths) is passed through.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.clitools import PLUGIN, plugin_env
from tests.goproc import start_gotarget
from tests.kubeapi.scenario import install_argo_rollouts
from tests.kubeapi.server import KubeApiServer


def say(text: str) -> None:
    print(f"[demo] {text}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-dir", type=Path, default=Path("out"))
    args = parser.parse_args()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    target = start_gotarget(layout="new", metrics=True)
    server = KubeApiServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="rollouts-profile-demo-") as scratch:
            scenario = install_argo_rollouts(server, pprof_port=target.pprof_port, metrics_port=target.metrics_port)
            kubeconfig = server.write_kubeconfig(Path(scratch) / "kubeconfig", "admin", namespace=scenario.namespace)
            say(f"test API server {server.url}; controller pods {', '.join(scenario.controller_pods)}")
            say(f"leader {scenario.leader_pod}; its pprof port is the Go target at {target.base_url}")
            env = plugin_env(KUBECONFIG=str(kubeconfig))
            commands = (["targets"], ["cpu", "--seconds", "5"], ["heap"])
            for command in commands:
                argv = [str(PLUGIN), *command]
                if command[0] != "targets":
                    argv += ["--output-dir", str(args.output_dir)]
                say(f"$ kubectl rollouts-profile {' '.join(argv[1:])}")
                result = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL)
                if result.returncode != 0:
                    say(f"failed with exit code {result.returncode}")
                    return result.returncode
    finally:
        server.stop()
        target.stop()
    say(f"profiles are in {args.output_dir.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
