"""The evidence bundle: every profile, the metrics, the pod (redacted), its events, the leader Lease and the
versions in one .tar.gz with a manifest.json; a failed item is recorded in the manifest and the rest go on.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubectl_rollouts_profile.cluster.access import Permission
from kubectl_rollouts_profile.cluster.api import ClusterApi

if TYPE_CHECKING:
    from kubectl_rollouts_profile.pprof.model import Profile

REDACTED = "<redacted>"
# What the bundle reads besides a capture's own needs; not required by the preflight (a missing one fails only
# its item), but `rbac --with-lock` grants them.
BUNDLE_RULES = (
    Permission("get", "pods", purpose="bundle: the pod's spec and status"),
    Permission("list", "events", purpose="bundle: the pod's recent events"),
)
# Annotations that repeat the whole spec, env values included.
SPEC_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


@dataclass(frozen=True)
class BundleItem:
    """One entry of manifest.json: a file in the archive, or the reason it is missing."""

    name: str
    started_at: datetime
    finished_at: datetime
    size: int | None = None
    sha256: str | None = None
    error: str | None = None
    note: str | None = None

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "startedAt": _iso(self.started_at),
            "finishedAt": _iso(self.finished_at),
            "seconds": round((self.finished_at - self.started_at).total_seconds(), 3),
            "error": self.error,
            **({"note": self.note} if self.note else {}),
        }


@dataclass
class Collector:
    """Runs each step, keeps what it produced, and records timing, size, sha256 or the error."""

    files: dict[str, bytes] = field(default_factory=dict)
    items: list[BundleItem] = field(default_factory=list)
    on_item: Callable[[BundleItem], None] | None = None

    def add(self, name: str, produce: Callable[[], bytes | None], *, skip_note: str | None = None) -> bytes | None:
        """Run ``produce``; None from it means "nothing worth keeping" (recorded with ``skip_note``)."""
        from kubectl_rollouts_profile.errors import RolloutsProfileError

        started = datetime.now(timezone.utc)
        try:
            data = produce()
        except (RolloutsProfileError, OSError, ValueError) as error:
            self._record(BundleItem(name, started, datetime.now(timezone.utc), error=f"{error}"))
            return None
        finished = datetime.now(timezone.utc)
        if data is None:
            self._record(BundleItem(name, started, finished, note=skip_note))
            return None
        self.files[name] = data
        self._record(BundleItem(name, started, finished, size=len(data), sha256=hashlib.sha256(data).hexdigest()))
        return data

    def _record(self, item: BundleItem) -> None:
        self.items.append(item)
        if self.on_item:
            self.on_item(item)

    @property
    def failed(self) -> list[BundleItem]:
        return [item for item in self.items if item.error]


def redact_pod(pod: dict) -> dict:
    """The pod with every env value, secret/configmap reference, pull secret and spec-copying annotation replaced
    by ``<redacted>``. The input is not changed."""
    redacted = copy.deepcopy(pod)
    metadata = redacted.get("metadata") or {}
    metadata.pop("managedFields", None)
    annotations = metadata.get("annotations") or {}
    for key in SPEC_ANNOTATIONS:
        if key in annotations:
            annotations[key] = REDACTED
    spec = redacted.get("spec") or {}
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(group) or []:
            for env in container.get("env") or []:
                if "value" in env:
                    env["value"] = REDACTED
                source = env.get("valueFrom") or {}
                for ref in ("secretKeyRef", "configMapKeyRef"):
                    if ref in source:
                        source[ref] = {"name": REDACTED, "key": REDACTED}
            for env_from in container.get("envFrom") or []:
                for ref in ("secretRef", "configMapRef"):
                    if ref in env_from:
                        env_from[ref] = {"name": REDACTED}
    for volume in spec.get("volumes") or []:
        if "secret" in volume:
            volume["secret"]["secretName"] = REDACTED
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "secret" in source:
                source["secret"]["name"] = REDACTED
    if spec.get("imagePullSecrets"):
        spec["imagePullSecrets"] = [{"name": REDACTED} for _ in spec["imagePullSecrets"]]
    return redacted


def write_archive(files: dict[str, bytes], manifest: dict, path: Path, *, force: bool) -> Path:
    """The .tar.gz with manifest.json first, written atomically with mode 0600."""
    from kubectl_rollouts_profile.deliver import write_atomic

    buffer = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        entries = {"manifest.json": json.dumps(manifest, indent=2).encode() + b"\n", **files}
        for name, data in entries.items():
            info = tarfile.TarInfo(f"{path.name.removesuffix('.tar.gz')}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o600, int(now)
            tar.addfile(info, io.BytesIO(data))
    return write_atomic(path, buffer.getvalue(), force=force)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _top(profile: Profile, title: str) -> bytes:
    from kubectl_rollouts_profile.export import render

    return render(profile, "top", title=title, nodes=30)


@dataclass(frozen=True)
class BundleSources:
    """Where the items come from: the pprof base URL (through the tunnel), a metrics fetcher, and the API."""

    base_url: str
    work_dir: Path
    fetch_metrics: Callable[[], bytes]
    api: ClusterApi
    namespace: str
    pod_name: str
    image: str
    lease_names: Sequence[str]
    max_bytes: int = 512 * 1024 * 1024


def collect(sources: BundleSources, seconds: int, collector: Collector) -> None:
    """Fetch every item in the order that makes before/after comparable: snapshots, cpu, snapshots again."""
    from kubectl_rollouts_profile.capture import fetch_text

    def pprof_with_top(name: str, kind_name: str, *, capture_seconds: int | None = None,
                       keep_empty: bool = True) -> None:
        decoded: list[Profile] = []  # the capture decodes the profile once; the top table reuses it

        def fetch() -> bytes | None:
            data, profile = _fetch_pprof(sources, kind_name, capture_seconds)
            if not keep_empty and profile.sample_count == 0:
                return None
            decoded.append(profile)
            return data

        data = collector.add(f"{name}.pb.gz", fetch,
                             skip_note="empty: the controller does not set this profile's sampling rate")
        if data is not None:
            collector.add(f"{name}.top.txt", lambda: _top(decoded[0], f"{sources.pod_name} {name}"))

    pprof_with_top("before/goroutine", "goroutine")
    collector.add("before/goroutine-debug2.txt",
                  lambda: fetch_text(sources.base_url, "/debug/pprof/goroutine?debug=2"))
    pprof_with_top("before/heap", "heap")
    pprof_with_top("cpu", "cpu", capture_seconds=seconds)
    pprof_with_top("after/heap", "heap")
    pprof_with_top("after/goroutine", "goroutine")
    pprof_with_top("allocs", "allocs")
    pprof_with_top("block", "block", keep_empty=False)
    pprof_with_top("mutex", "mutex", keep_empty=False)
    collector.add("metrics.txt", sources.fetch_metrics)
    collector.add("pod.json", lambda: _json(redact_pod(_get_pod(sources))))
    collector.add("events.json", lambda: _json(_events(sources)))
    collector.add("lease.json", lambda: _json(_lease(sources)))
    collector.add("versions.json", lambda: _json(_versions(sources)))


def _fetch_pprof(sources: BundleSources, kind_name: str, seconds: int | None) -> tuple[bytes, Profile]:
    from kubectl_rollouts_profile.capture import fetch_profile
    from kubectl_rollouts_profile.catalog import get_kind

    result = fetch_profile(sources.base_url, get_kind(kind_name), seconds, sources.work_dir,
                           max_bytes=sources.max_bytes)
    try:
        data = result.temp_path.read_bytes()
    finally:
        result.temp_path.unlink(missing_ok=True)
    assert result.profile is not None  # every bundle kind is pprof, decoded by the capture
    return data, result.profile


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True).encode() + b"\n"


def _get_pod(sources: BundleSources) -> dict:
    return sources.api.get_pod(sources.namespace, sources.pod_name)


def _events(sources: BundleSources) -> list[dict]:
    events = sources.api.list_events(sources.namespace, sources.pod_name)
    for event in events:
        (event.get("metadata") or {}).pop("managedFields", None)
    return sorted(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")


def _lease(sources: BundleSources) -> dict:
    from kubectl_rollouts_profile.errors import TargetNotFound

    lookup = sources.api.find_lease(sources.namespace, sources.lease_names)
    if lookup.error is not None:
        raise lookup.error
    if lookup.lease is None:
        raise TargetNotFound(f"no leader-election Lease ({', '.join(sources.lease_names)}) in {sources.namespace}")
    lease = dict(lookup.lease)
    (lease.get("metadata") or {}).pop("managedFields", None)
    return lease


def _versions(sources: BundleSources) -> dict:
    from kubectl_rollouts_profile import __version__

    server = sources.api.server_version()
    return {
        "plugin": __version__,
        "server": {key: server.get(key) for key in ("major", "minor", "gitVersion", "platform")},
        "controllerImage": sources.image,
    }


def build_manifest(collector: Collector, *, name: str, created: datetime, sources: BundleSources,
                   seconds: int) -> dict:
    from kubectl_rollouts_profile import __version__

    return {
        "bundle": name,
        "createdAt": _iso(created),
        "plugin": __version__,
        "target": {"namespace": sources.namespace, "pod": sources.pod_name, "image": sources.image},
        "cpuSeconds": seconds,
        "complete": not collector.failed,
        "items": [item.as_json() for item in collector.items],
    }
