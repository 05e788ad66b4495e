"""The capture lock: a coordination.k8s.io/v1 Lease in the controller's namespace that lets one capture at a time
run against the controller, and that remembers when the last timed (cpu/trace) capture ended, for ``--cooldown``.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from kubectl_rollouts_profile.cluster.access import LOCK_LEASE_NAME, lock_permissions
from kubectl_rollouts_profile.errors import RolloutsProfileError, TargetBusy, TargetNotFound

LEASE_NAME = LOCK_LEASE_NAME
LAST_TIMED_END = "rollouts-profile/last-timed-capture-end"
LOCK_RULES = lock_permissions(LEASE_NAME)
# Extra lease time on top of the expected capture time, so a slow network does not let the lock lapse.
MARGIN_SECONDS = 30
_API = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"


def default_holder() -> str:
    """Who holds the lock, in words an on-call can act on: user@host and the process id."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def lease_duration(capture_seconds: float) -> int:
    return int(capture_seconds) + MARGIN_SECONDS


def format_time(moment: datetime) -> str:
    """Kubernetes MicroTime."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class LockState:
    """What the Lease says, read once."""

    holder: str | None
    acquired: datetime | None
    expires: datetime | None
    last_timed_end: datetime | None

    def held_by_other(self, holder: str, now: datetime) -> bool:
        return bool(self.holder) and self.holder != holder and self.expires is not None and self.expires > now


def read_state(lease: dict) -> LockState:
    spec = lease.get("spec") or {}
    annotations = (lease.get("metadata") or {}).get("annotations") or {}
    renewed = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
    duration = spec.get("leaseDurationSeconds")
    expires = renewed + timedelta(seconds=duration) if renewed and duration else None
    return LockState(
        holder=spec.get("holderIdentity") or None,
        acquired=parse_time(spec.get("acquireTime")),
        expires=expires,
        last_timed_end=parse_time(annotations.get(LAST_TIMED_END)),
    )


def _call(api_client: Any, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """One API request; returns (status, JSON body). 404 and 409 are answers here, not errors; the rest raise."""
    from kubectl_rollouts_profile.cluster.api import send

    return send(api_client, method, path, what=f"{method.lower()} Lease {LEASE_NAME}", body=body, answers=(404, 409))


def _is_missing_object(status: dict, kind: str) -> bool:
    """True when a 404 Status says an object of ``kind`` (plural, e.g. "leases", "namespaces") does not exist, as
    opposed to the path not being served at all (plain "404 page not found", no details)."""
    details = status.get("details") if isinstance(status, dict) else None
    return isinstance(details, dict) and details.get("kind") == kind


def _since(moment: datetime | None) -> str:
    return f"since {format_time(moment)}" if moment else "since an unknown time"


class CaptureLock:
    """A taken lock; ``release`` frees it (and stamps the timed-capture end), ``renew`` extends it."""

    def __init__(self, api_client: Any, namespace: str, holder: str, duration_seconds: int, timed: bool) -> None:
        self.api_client = api_client
        self.namespace = namespace
        self.holder = holder
        self.duration_seconds = duration_seconds
        self.timed = timed
        self.lease: dict = {}
        self._guard = threading.Lock()
        self.lost = False

    @property
    def path(self) -> str:
        return _API.format(namespace=self.namespace) + f"/{LEASE_NAME}"

    def acquire(self, cooldown_seconds: float = 0) -> None:
        now = datetime.now(timezone.utc)
        status, lease = _call(self.api_client, "GET", self.path)
        if status == 404 and not _is_missing_object(lease, "leases"):
            raise self._not_served(lease)
        if status == 404:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": LEASE_NAME, "namespace": self.namespace},
                "spec": self._held_spec(now, transitions=0),
            }
            status, lease = _call(self.api_client, "POST", _API.format(namespace=self.namespace), body)
            if status == 409:
                raise self._lost_race()
            if status == 404 and _is_missing_object(lease, "namespaces"):
                raise TargetNotFound(f"cannot create the capture lock: namespace {self.namespace} not found")
            if status == 404:
                raise self._not_served(lease)
            self.lease = lease
            return
        state = read_state(lease)
        if state.held_by_other(self.holder, now):
            raise TargetBusy(
                f"the capture lock (Lease {self.namespace}/{LEASE_NAME}) is held by {state.holder} "
                f"{_since(state.acquired)}, until {format_time(state.expires)} unless renewed",  # type: ignore[arg-type]
                hint="wait for that capture to finish, then retry",
            )
        if self.timed and cooldown_seconds > 0 and state.last_timed_end is not None:
            allowed_at = state.last_timed_end + timedelta(seconds=cooldown_seconds)
            if allowed_at > now:
                raise TargetBusy(
                    f"the last cpu/trace capture ended at {format_time(state.last_timed_end)}; with a cooldown of "
                    f"{cooldown_seconds:g}s the next may run at {format_time(allowed_at)}",
                    hint=f"retry after {format_time(allowed_at)}, or lower --cooldown",
                )
        transitions = int((lease.get("spec") or {}).get("leaseTransitions") or 0)
        lease["spec"] = {**(lease.get("spec") or {}), **self._held_spec(now, transitions=transitions + 1)}
        status, updated = _call(self.api_client, "PUT", self.path, lease)
        if status == 409:
            raise self._lost_race()
        if status == 404:
            raise TargetBusy("the capture lock was deleted while being taken", hint="retry")
        self.lease = updated

    def _lost_race(self) -> TargetBusy:
        """Another runbook wrote the Lease between our read and our write: say who holds it now (read again)."""
        where = f"Lease {self.namespace}/{LEASE_NAME}"
        try:
            status, lease = _call(self.api_client, "GET", self.path)
        except RolloutsProfileError:
            status, lease = 0, {}
        state = read_state(lease) if status == 200 else None
        if state is not None and state.holder:
            return TargetBusy(
                f"another capture took the capture lock at the same moment: {where} is held by {state.holder} "
                f"{_since(state.acquired)}",
                hint="wait for that capture to finish, then retry",
            )
        return TargetBusy(
            f"another capture took the capture lock at the same moment ({where})",
            hint=f"retry later; see `kubectl get lease {LEASE_NAME} -n {self.namespace}`",
        )

    def _not_served(self, answer: dict) -> TargetNotFound:
        message = str(answer.get("message") or "404").strip()
        return TargetNotFound(
            f"cannot use the capture lock: the API server does not serve coordination.k8s.io/v1 Leases "
            f"in namespace {self.namespace} ({message})",
            hint="check `kubectl api-resources --api-group=coordination.k8s.io`; "
            "without Leases, run without --lock and --cooldown",
        )

    def _held_spec(self, now: datetime, *, transitions: int) -> dict:
        return {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.duration_seconds,
            "acquireTime": format_time(now),
            "renewTime": format_time(now),
            "leaseTransitions": transitions,
        }

    def renew(self) -> bool:
        """Move renewTime to now; False (and ``lost``) if someone else has changed the Lease meanwhile."""
        with self._guard:
            if self.lost:
                return False
            lease = dict(self.lease)
            lease["spec"] = {**lease.get("spec", {}), "renewTime": format_time(datetime.now(timezone.utc))}
            status, updated = _call(self.api_client, "PUT", self.path, lease)
            if status != 200:
                self.lost = True
                return False
            self.lease = updated
            return True

    def release(self) -> None:
        """Free the lock (keep the Lease: it carries the cooldown stamp); a lock taken over meanwhile is left."""
        with self._guard:
            for _ in range(3):
                lease = dict(self.lease)
                spec = dict(lease.get("spec") or {})
                if spec.get("holderIdentity") != self.holder:
                    return
                spec.pop("holderIdentity", None)
                spec["renewTime"] = format_time(datetime.now(timezone.utc))
                lease["spec"] = spec
                if self.timed:
                    metadata = dict(lease.get("metadata") or {})
                    metadata["annotations"] = {
                        **(metadata.get("annotations") or {}),
                        LAST_TIMED_END: format_time(datetime.now(timezone.utc)),
                    }
                    lease["metadata"] = metadata
                status, updated = _call(self.api_client, "PUT", self.path, lease)
                if status != 409:
                    return
                # Someone wrote in between (e.g. read our Lease); re-read and try again if it is still ours.
                status, self.lease = _call(self.api_client, "GET", self.path)
                if status != 200:
                    return


@contextmanager
def capture_lock(
    api_client: Any,
    namespace: str,
    *,
    holder: str | None = None,
    duration_seconds: int,
    timed: bool,
    cooldown_seconds: float = 0,
) -> Iterator[CaptureLock]:
    """Hold the capture lock for the ``with`` body; renewed every third of ``duration_seconds``, released on exit
    (success, error or Ctrl-C). Raises TargetBusy (exit 6) when another holder has it or the cooldown forbids a
    timed capture.
    """
    lock = CaptureLock(api_client, namespace, holder or default_holder(), max(duration_seconds, 3), timed)
    lock.acquire(cooldown_seconds)
    stop = threading.Event()

    def keep_renewing() -> None:
        while not stop.wait(lock.duration_seconds / 3):
            try:
                if not lock.renew():
                    return
            except Exception:  # a failed renewal must not kill the capture; the next one may succeed
                continue

    renewer = threading.Thread(target=keep_renewing, name="capture-lock-renewal", daemon=True)
    renewer.start()
    try:
        yield lock
    finally:
        stop.set()
        renewer.join(timeout=5)
        lock.release()
