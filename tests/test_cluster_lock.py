"""The capture lock against the test API server: taken, refused while held, taken over when expired, refused by
the cooldown, renewed, and released on success, error and SIGINT (in a real child process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from kubectl_rollouts_profile.cluster.api import format_micro_time, parse_micro_time
from kubectl_rollouts_profile.cluster.config import ClusterRequest, resolve_config
from kubectl_rollouts_profile.cluster.lock import (
    LAST_TIMED_END,
    LEASE_NAME,
    LOCK_RULES,
    CaptureLock,
    capture_lock,
)
from kubectl_rollouts_profile.errors import TargetBusy
from tests.kubeapi.fixtures import EMPTY_NAMESPACE

REPO = Path(__file__).resolve().parent.parent
NAMESPACE = EMPTY_NAMESPACE


@pytest.fixture
def cluster(empty_namespace: tuple[Any, Path]) -> tuple[Any, Path]:
    return empty_namespace


@pytest.fixture
def api(cluster: tuple[Any, Path]) -> Iterator[Any]:
    config = resolve_config(ClusterRequest(kubeconfig=str(cluster[1]), namespace=NAMESPACE), os.environ)
    client = config.open_api()
    yield client
    client.close()


def _lease(server: Any) -> dict | None:
    return server.get_object("coordination.k8s.io/v1", "Lease", NAMESPACE, LEASE_NAME)


def _put_lease(server: Any, *, holder: str | None, renewed: datetime, duration: int = 60,
               annotations: dict | None = None) -> None:
    spec: dict = {"leaseDurationSeconds": duration, "acquireTime": format_micro_time(renewed),
                  "renewTime": format_micro_time(renewed), "leaseTransitions": 3}
    if holder:
        spec["holderIdentity"] = holder
    server.put({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": LEASE_NAME, "namespace": NAMESPACE, "annotations": annotations or {}},
                "spec": spec})


def test_lock_is_created_held_and_released(cluster: tuple[Any, Path], api: Any) -> None:
    server = cluster[0]
    assert _lease(server) is None
    with capture_lock(api, NAMESPACE, holder="alice@host pid 1", duration_seconds=40, timed=False):
        held = _lease(server)
        assert held is not None
        assert held["spec"]["holderIdentity"] == "alice@host pid 1"
        assert held["spec"]["leaseDurationSeconds"] == 40
    released = _lease(server)
    assert released is not None and not released["spec"].get("holderIdentity")
    assert LAST_TIMED_END not in (released["metadata"].get("annotations") or {})


def test_held_lock_refuses_with_holder_and_since(cluster: tuple[Any, Path], api: Any) -> None:
    server = cluster[0]
    since = datetime.now(timezone.utc) - timedelta(seconds=5)
    _put_lease(server, holder="bob@laptop pid 42", renewed=since)
    with pytest.raises(TargetBusy) as caught:
        with capture_lock(api, NAMESPACE, holder="alice", duration_seconds=40, timed=False):
            pytest.fail("the body must not run while another holder has the lock")
    assert caught.value.exit_code == 6
    assert "bob@laptop pid 42" in str(caught.value)
    assert format_micro_time(since)[:19] in str(caught.value)
    assert _lease(server)["spec"]["holderIdentity"] == "bob@laptop pid 42"


def test_expired_lock_is_taken_over(cluster: tuple[Any, Path], api: Any) -> None:
    server = cluster[0]
    _put_lease(server, holder="crashed@node pid 7", renewed=datetime.now(timezone.utc) - timedelta(minutes=5))
    with capture_lock(api, NAMESPACE, holder="alice", duration_seconds=40, timed=False):
        lease = _lease(server)
        assert lease["spec"]["holderIdentity"] == "alice"
        assert lease["spec"]["leaseTransitions"] == 4
    assert not _lease(server)["spec"].get("holderIdentity")


def test_two_takers_of_an_expired_lock_cannot_both_win(cluster: tuple[Any, Path], api: Any) -> None:
    server = cluster[0]
    _put_lease(server, holder="crashed", renewed=datetime.now(timezone.utc) - timedelta(minutes=5))
    first = CaptureLock(api, NAMESPACE, "first", 40, timed=False)
    second = CaptureLock(api, NAMESPACE, "second", 40, timed=False)
    # Both read the expired Lease before either writes: the second write carries a stale resourceVersion.
    stale = server.get_object("coordination.k8s.io/v1", "Lease", NAMESPACE, LEASE_NAME)
    first.acquire()
    second_update = dict(stale, spec={**stale["spec"], "holderIdentity": "second"})
    status, _ = api.update_lease(NAMESPACE, LEASE_NAME, second_update)
    assert status == 409
    with pytest.raises(TargetBusy, match="held by first"):
        second.acquire()
    first.release()


def test_lost_race_on_update_is_target_busy(cluster: tuple[Any, Path], api: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    server = cluster[0]
    _put_lease(server, holder=None, renewed=datetime.now(timezone.utc))
    real_update = api.update_lease

    def racing_update(namespace: str, name: str, body: dict) -> tuple[int, dict]:
        # another runbook writes between our read and our write
        _put_lease(server, holder="winner", renewed=datetime.now(timezone.utc))
        return real_update(namespace, name, body)

    monkeypatch.setattr(api, "update_lease", racing_update)
    with pytest.raises(TargetBusy, match="same moment"):
        CaptureLock(api, NAMESPACE, "loser", 40, timed=False).acquire()
    assert _lease(server)["spec"]["holderIdentity"] == "winner"


def test_lock_is_released_when_the_body_fails(cluster: tuple[Any, Path], api: Any) -> None:
    server = cluster[0]
    with pytest.raises(RuntimeError):
        with capture_lock(api, NAMESPACE, holder="alice", duration_seconds=40, timed=True) as lock:
            lock.note_timed_capture()
            raise RuntimeError("capture failed")
    lease = _lease(server)
    assert not lease["spec"].get("holderIdentity")
    assert parse_micro_time(lease["metadata"]["annotations"][LAST_TIMED_END]) is not None


def test_cooldown_refuses_a_timed_capture_and_says_when(cluster: tuple[Any, Path], api: Any) -> None:
    server = cluster[0]
    ended = datetime.now(timezone.utc) - timedelta(seconds=10)
    _put_lease(server, holder=None, renewed=ended, annotations={LAST_TIMED_END: format_micro_time(ended)})
    with pytest.raises(TargetBusy) as caught:
        with capture_lock(api, NAMESPACE, holder="alice", duration_seconds=40, timed=True,
                          cooldown_seconds=60):
            pytest.fail("the cooldown must refuse this capture")
    assert caught.value.exit_code == 6
    assert format_micro_time(ended + timedelta(seconds=60))[:19] in str(caught.value)
    # Not timed (heap, goroutine...): the cooldown does not apply.
    with capture_lock(api, NAMESPACE, holder="alice", duration_seconds=40, timed=False,
                      cooldown_seconds=60):
        assert _lease(server)["spec"]["holderIdentity"] == "alice"
    # Timed but past the cooldown.
    with capture_lock(api, NAMESPACE, holder="alice", duration_seconds=40, timed=True,
                      cooldown_seconds=5) as lock:
        assert _lease(server)["spec"]["holderIdentity"] == "alice"
        lock.note_timed_capture()
    stamped = parse_micro_time(_lease(server)["metadata"]["annotations"][LAST_TIMED_END])
    assert stamped is not None and stamped > ended


def test_renew_moves_renew_time(cluster: tuple[Any, Path], api: Any) -> None:
    server = cluster[0]
    with capture_lock(api, NAMESPACE, holder="alice", duration_seconds=600, timed=False) as lock:
        before = _lease(server)["spec"]["renewTime"]
        assert lock.renew()
        after = _lease(server)["spec"]["renewTime"]
        assert parse_micro_time(after) > parse_micro_time(before)


def test_renew_reports_a_lock_taken_over(cluster: tuple[Any, Path], api: Any) -> None:
    server = cluster[0]
    with capture_lock(api, NAMESPACE, holder="alice", duration_seconds=600, timed=False) as lock:
        _put_lease(server, holder="intruder", renewed=datetime.now(timezone.utc))
        assert not lock.renew() and lock.lost
    # Release leaves someone else's lock alone.
    assert _lease(server)["spec"]["holderIdentity"] == "intruder"


def test_lock_rules_cover_get_update_create_leases() -> None:
    rules = {(rule.verb, rule.resource, rule.group) for rule in LOCK_RULES}
    assert rules == {(verb, "leases", "coordination.k8s.io") for verb in ("get", "update", "create")}


def test_lock_is_released_on_sigint(cluster: tuple[Any, Path]) -> None:
    server, kubeconfig = cluster
    script = textwrap.dedent(f"""
        import os, sys
        from kubectl_rollouts_profile.cluster.api import format_micro_time, parse_micro_time
        from kubectl_rollouts_profile.cluster.config import ClusterRequest, resolve_config
        from kubectl_rollouts_profile.cluster.lock import capture_lock
        config = resolve_config(ClusterRequest(kubeconfig={str(kubeconfig)!r}, namespace={NAMESPACE!r}), os.environ)
        client = config.open_api()
        try:
            with capture_lock(client, {NAMESPACE!r}, holder="sigint-test", duration_seconds=600, timed=True) as lock:
                lock.note_timed_capture()
                print("held", flush=True)
                sys.stdin.read()  # until interrupted
        except KeyboardInterrupt:
            sys.exit(130)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, cwd=REPO)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        assert _lease(server)["spec"]["holderIdentity"] == "sigint-test"
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=30) == 130
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    lease = _lease(server)
    assert not lease["spec"].get("holderIdentity")
    assert LAST_TIMED_END in lease["metadata"]["annotations"]


def test_missing_namespace_is_target_not_found(cluster: tuple[Any, Path], api: Any) -> None:
    from kubectl_rollouts_profile.errors import TargetNotFound

    with pytest.raises(TargetNotFound, match="no-such-ns"):
        with capture_lock(api, "no-such-ns", holder="alice", duration_seconds=40, timed=False):
            pytest.fail("no lock without a namespace")
