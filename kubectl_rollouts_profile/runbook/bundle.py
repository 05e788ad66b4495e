"""The evidence bundle: every profile, the metrics, the pod (redacted), its events, the leader Lease and the
versions in one .tar.gz with a manifest.json; a failed item is recorded in the manifest and the rest go on.
"""

from __future__ import annotations

import copy
import hashlib
import io
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from kubectl_rollouts_profile import __version__, deliver
from kubectl_rollouts_profile import bundlelayout as layout
from kubectl_rollouts_profile.analysis.run import bundle_report
from kubectl_rollouts_profile.budget import DEFAULT
from kubectl_rollouts_profile.capture import fetch_text
from kubectl_rollouts_profile.cluster.access import Permission
from kubectl_rollouts_profile.cluster.api import ClusterApi, format_micro_time
from kubectl_rollouts_profile.cluster.config import ClusterRequest
from kubectl_rollouts_profile.cluster.locate import lease_names
from kubectl_rollouts_profile.cluster.tunnel import open_tunnel
from kubectl_rollouts_profile.errors import (
    ConnectionFailed,
    ProfilingUnavailable,
    RolloutsProfileError,
    TargetNotFound,
    UsageError,
)
from kubectl_rollouts_profile.kinds import get_kind
from kubectl_rollouts_profile.loadguard import LoadGuard, LoadReading
from kubectl_rollouts_profile.pipeline import (
    EMPTY_NOT_KEPT,
    CaptureSpec,
    Destination,
    Endpoint,
    EndpointSpec,
    Sampling,
    discard_if_empty,
    open_endpoint,
    run_capture,
)
from kubectl_rollouts_profile.safe import dumps

if TYPE_CHECKING:
    from kubectl_rollouts_profile.environment import Environment

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

    def entry(self) -> layout.ManifestItem:
        return layout.ManifestItem(
            name=self.name, size=self.size, sha256=self.sha256, started_at=format_micro_time(self.started_at),
            finished_at=format_micro_time(self.finished_at),
            seconds=round((self.finished_at - self.started_at).total_seconds(), 3), error=self.error,
            note=self.note or None,
        )


@dataclass
class Collector:
    """Runs each step into a file of the work directory, and records timing, size, sha256 or the error."""

    work_dir: Path
    items: list[BundleItem] = field(default_factory=list)
    on_item: Callable[[BundleItem], None] | None = None

    def add(self, name: str, produce: Callable[[], bytes | None], *, skip_note: str | None = None) -> None:
        """Run ``produce`` and keep its bytes as ``name``; None from it means "nothing worth keeping" (recorded
        with ``skip_note``)."""
        started = datetime.now(timezone.utc)
        try:
            data = produce()
            if data is not None:
                path = self.work_dir / name
                path.parent.mkdir(parents=True, exist_ok=True)
                deliver.write_atomic(path, data, force=False)
        except (RolloutsProfileError, OSError, ValueError) as error:
            self._record(BundleItem(name, started, datetime.now(timezone.utc), error=f"{error}"))
            return
        finished = datetime.now(timezone.utc)
        if data is None:
            self._record(BundleItem(name, started, finished, note=skip_note))
            return
        self._record(BundleItem(name, started, finished, size=len(data), sha256=hashlib.sha256(data).hexdigest()))

    def add_capture(self, endpoint: Endpoint, name: str, kind_name: str, *, seconds: int | None = None,
                    keep_empty: bool = True, max_bytes: int) -> None:
        """One profile through the capture pipeline into ``name.pb.gz`` plus its top table ``name.top.txt``."""
        started = datetime.now(timezone.utc)
        member = layout.profile_member(name)
        raw = self.work_dir / member
        raw.parent.mkdir(parents=True, exist_ok=True)
        spec = CaptureSpec(kind=get_kind(kind_name), seconds=seconds, exports=("top",), max_bytes=max_bytes,
                           destination=Destination(directory=raw.parent, name=raw.name))
        try:
            outcome = run_capture(spec, endpoint)
        except (RolloutsProfileError, OSError) as error:
            self._record(BundleItem(member, started, datetime.now(timezone.utc), error=f"{error}"))
            return
        finished = datetime.now(timezone.utc)
        if not keep_empty and discard_if_empty(outcome):
            self._record(BundleItem(member, started, finished, note=EMPTY_NOT_KEPT))
            return
        self._record(BundleItem(member, started, finished, size=outcome.size, sha256=outcome.sha256))
        if "top" in outcome.files:
            self._record(_file_item(self.work_dir, layout.top_member(name), finished))
        elif "top" in outcome.missing:
            self._record(BundleItem(layout.top_member(name), finished, finished, error=outcome.missing["top"]))

    def _record(self, item: BundleItem) -> None:
        self.items.append(item)
        if self.on_item:
            self.on_item(item)

    @property
    def failed(self) -> list[BundleItem]:
        return [item for item in self.items if item.error]

    @property
    def written(self) -> list[str]:
        return [item.name for item in self.items if item.size is not None]


def _file_item(work_dir: Path, name: str, when: datetime) -> BundleItem:
    data = (work_dir / name).read_bytes()
    return BundleItem(name, when, when, size=len(data), sha256=hashlib.sha256(data).hexdigest())


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


def write_archive(collector: Collector, manifest: dict, destination: Destination, *, stem: str) -> Path:
    """The .tar.gz with manifest.json first, then each kept item read from the work directory, streamed into a
    staged file and committed (mode 0600) under the exact name or a default name that never collides."""
    directory = destination.directory
    with deliver.staged(directory) as staged:
        # The directory name inside the archive is the archive's own name, decided only at commit; the default
        # stem is used for it (a numeric suffix added at commit does not rename the folder inside).
        inner = destination.name.removesuffix(".tar.gz") if destination.name else stem
        try:
            _write_tar(staged.binary_file(), collector, manifest, inner)
        except OSError as error:
            raise deliver.write_error(directory, error) from error
        if destination.name is not None:
            return staged.commit(directory / destination.name, force=destination.force)
        return staged.commit_new(directory, stem, ".tar.gz")


def _write_tar(out: BinaryIO | IO[bytes], collector: Collector, manifest: dict, inner: str) -> None:
    now = int(time.time())
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        manifest_bytes = dumps(manifest, indent=2).encode() + b"\n"
        info = tarfile.TarInfo(f"{inner}/{layout.MANIFEST}")
        info.size, info.mode, info.mtime = len(manifest_bytes), 0o600, now
        tar.addfile(info, io.BytesIO(manifest_bytes))
        for name in collector.written:
            path = collector.work_dir / name
            info = tarfile.TarInfo(f"{inner}/{name}")
            info.size, info.mode, info.mtime = path.stat().st_size, 0o600, now
            with path.open("rb") as handle:
                tar.addfile(info, handle)


@dataclass(frozen=True)
class BundleSpec:
    """What a bundle needs besides the cluster: the cpu duration, the cooldown, and where the archive goes."""

    seconds: int = 30
    cooldown_seconds: float = 60.0
    destination: Destination = field(default_factory=Destination)
    max_bytes: int = 512 * 1024 * 1024
    load: LoadGuard | None = field(default_factory=LoadGuard)  # None: do not read the load first


@dataclass(frozen=True)
class BundleOutcome:
    path: Path
    manifest: dict
    failed: tuple[str, ...]  # names of the items that failed
    report: Path | None = None  # the incident report written beside the archive


@dataclass(frozen=True)
class BundleSources:
    """Where the non-profile items come from: the cluster API and the controller pod."""

    api: ClusterApi
    namespace: str
    pod_name: str
    image: str
    lease_names: Sequence[str]


def run_bundle(cluster: ClusterRequest, spec: BundleSpec, env: Environment,
               on_item: Callable[[BundleItem], None] | None = None) -> BundleOutcome:
    """Check where the archive goes, take the capture lock (cooldown included), collect every item through one
    tunnel (the metrics through a second one), and write the archive. A failed item is recorded, not raised."""
    destination = spec.destination
    if destination.name is not None:
        deliver.check_output_path(destination.directory / destination.name, force=destination.force)
    else:
        deliver.check_directory(destination.directory)
    created = datetime.now(timezone.utc)
    endpoint_spec = EndpointSpec(cluster=cluster, lock=True, cooldown_seconds=spec.cooldown_seconds, load=spec.load)
    sampling = Sampling(what=f"a bundle (cpu {spec.seconds}s and every snapshot)", sustained=True)
    # Snapshots and the cpu capture, plus time for the API reads, bound how long the lock is needed.
    with open_endpoint(endpoint_spec, env, lock_seconds=spec.seconds + 60, timed=True, extra_rules=BUNDLE_RULES,
                       sampling=sampling) as endpoint, \
            deliver.work_directory(destination.directory, prefix=".rollouts-profile-bundle-") as work_dir:
        connection = endpoint.connection
        assert connection is not None  # a bundle always goes through the cluster
        pod = connection.pod
        sources = BundleSources(api=connection.api, namespace=pod.namespace, pod_name=pod.pod_name,
                                image=pod.image, lease_names=lease_names(cluster.instance_id or pod.instance_id))
        env.message(f"bundle: collecting from {pod.namespace}/{pod.pod_name} (cpu {spec.seconds}s)")
        collector = Collector(work_dir, on_item=on_item)
        collect(endpoint, sources, spec, collector, fetch_metrics=lambda: fetch_pod_metrics(connection))
        stem = deliver.default_stem(pod.pod_name, "bundle", created)

        def manifest_now() -> dict:
            return build_manifest(collector, name=destination.name.removesuffix(".tar.gz") if destination.name
                                  else stem, created=created, sources=sources, seconds=spec.seconds,
                                  warnings=endpoint.warnings(), load=endpoint.load)

        # The incident report of everything collected so far; a failure to build it is one failed item.
        collector.add(layout.REPORT,
                      lambda: bundle_report(collector.work_dir, collector.written, manifest_now()))
        manifest = manifest_now()
        path = write_archive(collector, manifest, destination, stem=stem)
        report = _report_beside(collector.work_dir / layout.REPORT, path, env, force=destination.force) \
            if layout.REPORT in collector.written else None
    return BundleOutcome(path=path, manifest=manifest, failed=tuple(item.name for item in collector.failed),
                         report=report)


def _report_beside(staged_report: Path, archive: Path, env: Environment, *, force: bool) -> Path | None:
    """The report next to the archive (``{archive stem}.report.html``), where a person opens it first."""
    beside = archive.with_name(archive.name.removesuffix(".tar.gz") + ".report.html")
    try:
        return deliver.write_atomic(beside, staged_report.read_bytes(), force=force)
    except (RolloutsProfileError, OSError) as error:
        env.message(f"warning: the report is only inside the archive: {error}")
        return None


def fetch_pod_metrics(connection: Any) -> bytes:
    pod = connection.pod
    if pod.metrics_port is None:
        raise UsageError("the controller's metrics port is unknown")
    try:
        with open_tunnel(connection.config, pod.namespace, pod.pod_name, pod.metrics_port) as url:
            return fetch_text(url, "/metrics", max_bytes=DEFAULT.metrics_bytes)
    except ProfilingUnavailable as error:  # the tunnel's words are about the pprof port; these are metrics
        raise ConnectionFailed(
            f"nothing is listening on the metrics port {pod.metrics_port} in pod {pod.pod_name}",
            hint="the controller serves metrics on --metricsport (default 8090); check the pod's args",
        ) from error


def collect(endpoint: Endpoint, sources: BundleSources, spec: BundleSpec, collector: Collector, *,
            fetch_metrics: Callable[[], bytes]) -> None:
    """Fetch every item in the order that makes before/after comparable: snapshots, cpu, snapshots again."""

    def profile(name: str, kind_name: str, *, seconds: int | None = None, keep_empty: bool = True) -> None:
        collector.add_capture(endpoint, name, kind_name, seconds=seconds, keep_empty=keep_empty,
                              max_bytes=spec.max_bytes)

    profile(f"{layout.BEFORE}/goroutine", "goroutine")
    collector.add(layout.GOROUTINE_TEXT, lambda: fetch_text(endpoint.base_url, "/debug/pprof/goroutine?debug=2"))
    profile(f"{layout.BEFORE}/heap", "heap")
    profile("cpu", "cpu", seconds=spec.seconds)
    profile(f"{layout.AFTER}/heap", "heap")
    profile(f"{layout.AFTER}/goroutine", "goroutine")
    profile("allocs", "allocs")
    profile("block", "block", keep_empty=False)
    profile("mutex", "mutex", keep_empty=False)
    collector.add(layout.METRICS, fetch_metrics)
    collector.add(layout.POD, lambda: _json(redact_pod(_get_pod(sources))))
    collector.add(layout.EVENTS, lambda: _json(_events(sources)))
    collector.add(layout.LEASE, lambda: _json(_lease(sources)))
    collector.add(layout.VERSIONS, lambda: _json(_versions(sources)))


def _json(value: Any) -> bytes:
    return dumps(value, indent=2, sort_keys=True).encode() + b"\n"


def _get_pod(sources: BundleSources) -> dict:
    return sources.api.get_pod(sources.namespace, sources.pod_name)


def _events(sources: BundleSources) -> list[dict]:
    events = sources.api.list_events(sources.namespace, sources.pod_name)
    for event in events:
        (event.get("metadata") or {}).pop("managedFields", None)
    return sorted(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")


def _lease(sources: BundleSources) -> dict:
    lookup = sources.api.find_lease(sources.namespace, sources.lease_names)
    if lookup.error is not None:
        raise lookup.error
    if lookup.lease is None:
        raise TargetNotFound(f"no leader-election Lease ({', '.join(sources.lease_names)}) in {sources.namespace}")
    lease = dict(lookup.lease)
    (lease.get("metadata") or {}).pop("managedFields", None)
    return lease


def _versions(sources: BundleSources) -> dict:
    server = sources.api.server_version()
    return {
        "plugin": __version__,
        "server": {key: server.get(key) for key in ("major", "minor", "gitVersion", "platform")},
        "controllerImage": sources.image,
    }


def build_manifest(collector: Collector, *, name: str, created: datetime, sources: BundleSources,
                   seconds: int, warnings: Sequence[str] = (), load: LoadReading | None = None) -> dict:
    return layout.Manifest(
        bundle=name,
        created_at=format_micro_time(created),
        plugin=__version__,
        controller=layout.ManifestPod(namespace=sources.namespace, pod=sources.pod_name, image=sources.image),
        cpu_seconds=seconds,
        complete=not collector.failed,
        warnings=tuple(warnings),
        load=load.as_json() if load is not None else None,
        items=tuple(item.entry() for item in collector.items),
    ).as_json()
