"""`python -m tests.kubeapi` (the demo's server): prints `ready URL`, serves the scenario, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from tests.goproc import REPO


def test_runs_the_scenario_until_sigterm(tmp_path):
    import kubernetes

    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.kubeapi", "--pprof-port", "1", "--kubeconfig", str(kubeconfig)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until serving
        word, url = line.split()
        assert word == "ready" and url.startswith("https://127.0.0.1:")
        config = json.loads(kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == url
        assert config["contexts"][0]["context"]["namespace"] == "argo-rollouts"
        assert oct(os.stat(kubeconfig).st_mode & 0o777) == "0o600"
        core = kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config(str(kubeconfig)))
        pods = core.list_namespaced_pod("argo-rollouts", label_selector="app.kubernetes.io/name=argo-rollouts")
        assert len(pods.items) == 3
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        process.stdout.close()
        process.stderr.close()
