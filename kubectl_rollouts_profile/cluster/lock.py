"""The capture lock: a coordination.k8s.io/v1 Lease in the controller's namespace that lets one capture at a time
run against the controller, and that remembers when the last timed (cpu/trace) capture ended, for ``--cooldown``.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from kubectl_rollouts_profile.cluster.access import LOCK_LEASE_NAME, lock_permissions
from kubectl_rollouts_profile.cluster.api import (
    LEASES,
    ClusterApi,
    format_micro_time,
    is_missing_object,
    lease_expiry,
    parse_micro_time,
)
from kubectl_rollouts_profile.errors import RolloutsProfileError, TargetBusy, TargetNotFound

LEASE_NAME = LOCK_LEASE_NAME
LAST_TIMED_END = "rollouts-profile/last-timed-capture-end"
LOCK_RULES = lock_permissions(LEASE_NAME)
# Extra lease time on top of the expected capture time, so a slow network does not let the lock lapse.
MARGIN_SECONDS = 30


def default_holder() -> str:
    """Who holds the lock, in words an on-call can act on: user@host and the process id."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def lease_duration(capture_seconds: float) -> int:
    return int(capture_seconds) + MARGIN_SECONDS


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
    expires, _ = lease_expiry(lease)
    return LockState(
        holder=spec.get("holderIdentity") or None,
        acquired=parse_micro_time(spec.get("acquireTime")),
        expires=expires,
        last_timed_end=parse_micro_time(annotations.get(LAST_TIMED_END)),
    )


def _since(moment: datetime | None) -> str:
    return f"since {format_micro_time(moment)}" if moment else "since an unknown time"


class CaptureLock:
    """A taken lock; ``release`` frees it (and stamps the timed-capture end), ``renew`` extends it."""

    def __init__(self, api: ClusterApi, namespace: str, holder: str, duration_seconds: int, timed: bool) -> None:
        self.api = api
        self.namespace = namespace
        self.holder = holder
        self.duration_seconds = duration_seconds
        self.timed = timed
        self.lease: dict = {}
        self._guard = threading.Lock()
        self.lost_reason: str | None = None  # set when the lock was lost while held (reported as a warning)
        self.timed_capture_done = False  # the cooldown is stamped on release only after a timed capture

    def acquire(self, cooldown_seconds: float = 0) -> None:
        now = datetime.now(timezone.utc)
        status, existing = self.api.send(
            "GET", LEASES.format(namespace=self.namespace) + f"/{LEASE_NAME}", what=f"get Lease {LEASE_NAME}",
            answers=(404,),
        )
        if status == 404 and not is_missing_object(existing, "leases"):
            raise self._not_served(existing)
        if status == 404:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": LEASE_NAME, "namespace": self.namespace},
                "spec": self._held_spec(now, transitions=0),
            }
            status, lease = self.api.create_lease(self.namespace, body)
            if status == 409:
                raise self._lost_race()
            if status == 404 and is_missing_object(lease, "namespaces"):
                raise TargetNotFound(f"cannot create the capture lock: namespace {self.namespace} not found")
            if status == 404:
                raise self._not_served(lease)
            self.lease = lease
            return
        lease = existing
        state = read_state(lease)
        if state.held_by_other(self.holder, now):
            raise TargetBusy(
                f"the capture lock (Lease {self.namespace}/{LEASE_NAME}) is held by {state.holder} "
                f"{_since(state.acquired)}, until {format_micro_time(state.expires)} unless renewed",  # type: ignore[arg-type]
                hint="wait for that capture to finish, then retry",
            )
        if self.timed and cooldown_seconds > 0 and state.last_timed_end is not None:
            allowed_at = state.last_timed_end + timedelta(seconds=cooldown_seconds)
            if allowed_at > now:
                raise TargetBusy(
                    f"the last cpu/trace capture ended at {format_micro_time(state.last_timed_end)}; with a cooldown "
                    f"of {cooldown_seconds:g}s the next may run at {format_micro_time(allowed_at)}",
                    hint=f"retry after {format_micro_time(allowed_at)}, or lower --cooldown",
                )
        transitions = int((lease.get("spec") or {}).get("leaseTransitions") or 0)
        lease["spec"] = {**(lease.get("spec") or {}), **self._held_spec(now, transitions=transitions + 1)}
        status, updated = self.api.update_lease(self.namespace, LEASE_NAME, lease)
        if status == 409:
            raise self._lost_race()
        if status == 404:
            raise TargetBusy("the capture lock was deleted while being taken", hint="retry")
        self.lease = updated

    def _lost_race(self) -> TargetBusy:
        """Another runbook wrote the Lease between our read and our write: say who holds it now (read again)."""
        where = f"Lease {self.namespace}/{LEASE_NAME}"
        try:
            lease = self.api.get_lease(self.namespace, LEASE_NAME)
        except RolloutsProfileError:
            lease = None
        state = read_state(lease) if lease else None
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
            "acquireTime": format_micro_time(now),
            "renewTime": format_micro_time(now),
            "leaseTransitions": transitions,
        }

    @property
    def lost(self) -> bool:
        return self.lost_reason is not None

    def note_timed_capture(self) -> None:
        """A cpu/trace capture started sampling under this lock: stamp the end on release, for ``--cooldown``
        (a run that failed before sampling, e.g. on a full disk, leaves the last stamp as it was)."""
        self.timed_capture_done = True

    def renew(self) -> bool:
        """Move renewTime to now; False (and ``lost_reason``) if someone else has changed the Lease meanwhile."""
        with self._guard:
            if self.lost_reason:
                return False
            lease = dict(self.lease)
            lease["spec"] = {**lease.get("spec", {}), "renewTime": format_micro_time(datetime.now(timezone.utc))}
            status, updated = self.api.update_lease(self.namespace, LEASE_NAME, lease)
            if status != 200:
                self.lost_reason = ("the Lease was deleted" if status == 404
                                    else "the Lease was changed by someone else")
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
                spec["renewTime"] = format_micro_time(datetime.now(timezone.utc))
                lease["spec"] = spec
                if self.timed_capture_done:
                    metadata = dict(lease.get("metadata") or {})
                    metadata["annotations"] = {
                        **(metadata.get("annotations") or {}),
                        LAST_TIMED_END: format_micro_time(datetime.now(timezone.utc)),
                    }
                    lease["metadata"] = metadata
                status, updated = self.api.update_lease(self.namespace, LEASE_NAME, lease)
                if status != 409:
                    return
                # Someone wrote in between (e.g. read our Lease); re-read and try again if it is still ours.
                current = self.api.get_lease(self.namespace, LEASE_NAME)
                if current is None:
                    return
                self.lease = current


@contextmanager
def capture_lock(
    api: ClusterApi,
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
    lock = CaptureLock(api, namespace, holder or default_holder(), max(duration_seconds, 3), timed)
    lock.acquire(cooldown_seconds)
    stop = threading.Event()

    def keep_renewing() -> None:
        last_renewed = time.monotonic()
        while not stop.wait(lock.duration_seconds / 3):
            try:
                if not lock.renew():
                    return
                last_renewed = time.monotonic()
            except RolloutsProfileError as error:
                # An API hiccup: the next renewal may succeed, until the Lease has run out.
                if time.monotonic() - last_renewed >= lock.duration_seconds:
                    lock.lost_reason = f"it could not be renewed before it expired: {error}"
                    return

    renewer = threading.Thread(target=keep_renewing, name="capture-lock-renewal", daemon=True)
    renewer.start()
    try:
        yield lock
    finally:
        stop.set()
        renewer.join(timeout=5)
        lock.release()
