"""Run the test API server with the Argo Rollouts scenario until SIGTERM/SIGINT (for the demo).

    python -m tests.kubeapi --pprof-port P [--metrics-port M] --kubeconfig PATH

Prints ``ready URL`` on stdout once serving; everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from tests.kubeapi.scenario import install_argo_rollouts
from tests.kubeapi.server import DEFAULT_GIT_VERSION, KubeApiServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.kubeapi", description=__doc__.splitlines()[0])
    parser.add_argument("--pprof-port", type=int, required=True, help="local port of the real pprof server")
    parser.add_argument("--metrics-port", type=int, help="local port of the real metrics server")
    parser.add_argument("--kubeconfig", type=Path, required=True, help="where to write the admin kubeconfig")
    parser.add_argument("--namespace", default="argo-rollouts")
    parser.add_argument("--git-version", default=DEFAULT_GIT_VERSION, help="the version /version reports")
    options = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server = KubeApiServer(git_version=options.git_version).start()
    try:
        scenario = install_argo_rollouts(server, pprof_port=options.pprof_port, metrics_port=options.metrics_port,
                                         namespace=options.namespace)
        server.write_kubeconfig(options.kubeconfig, "admin", namespace=scenario.namespace)
        print(f"leader {scenario.leader_pod}, pods {', '.join(scenario.controller_pods)}", file=sys.stderr)
        print(f"ready {server.url}", flush=True)
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
