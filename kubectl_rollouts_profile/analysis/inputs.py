"""What an analysis reads: pprof files, metrics text files and the .tar.gz bundles ``bundle`` writes, turned into
one AnalysisInput (profiles with their kind and phase, metrics snapshots, capture facts)."""

from __future__ import annotations

import io
import tarfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kubectl_rollouts_profile import bundlelayout as layout
from kubectl_rollouts_profile.analysis.metrics import MetricsSnapshot, parse_metrics
from kubectl_rollouts_profile.budget import DEFAULT, Budget, Deadline, InputTooLarge
from kubectl_rollouts_profile.budget import loads as budget_loads
from kubectl_rollouts_profile.errors import ProfileError, UsageError
from kubectl_rollouts_profile.inputfiles import read_input
from kubectl_rollouts_profile.pprof.decode import DEFAULT_MAX_DECOMPRESSED, decode_profile
from kubectl_rollouts_profile.pprof.model import Profile
from kubectl_rollouts_profile.safe import display_name, terminal


@dataclass(frozen=True)
class ProfileInput:
    name: str  # file name, or the member's path inside a bundle (``before/heap.pb.gz``)
    kind: str  # cpu, heap, allocs, goroutine, contention, other
    profile: Profile
    phase: str = ""  # before / after inside a bundle


@dataclass(frozen=True)
class AnalysisInput:
    profiles: tuple[ProfileInput, ...] = ()
    metrics: tuple[MetricsSnapshot, ...] = ()
    facts: tuple[tuple[str, str], ...] = ()  # capture facts for the report: pod, leader, versions, times
    trend: tuple[tuple[str, float], ...] = ()  # goroutine counts over time (label, count), when a trend was run

    def of_kind(self, kind: str) -> list[ProfileInput]:
        return [item for item in self.profiles if item.kind == kind]

    def pair(self, kind: str) -> tuple[ProfileInput, ProfileInput] | None:
        """Two profiles of one kind to compare, base first: a bundle's before/after, or the first and the last
        file of that kind given."""
        found = self.of_kind(kind)
        before = [item for item in found if item.phase == "before"]
        after = [item for item in found if item.phase == "after"]
        if before and after:
            return before[0], after[-1]
        if len(found) >= 2:
            return found[0], found[-1]
        return None


def profile_kind(profile: Profile, name: str = "") -> str:
    types = {value_type.type for value_type in profile.sample_types}
    if "cpu" in types:
        return "cpu"
    if "inuse_space" in types:
        return "allocs" if profile.default_sample_type == "alloc_space" or "allocs" in name else "heap"
    if "goroutine" in types:
        return "goroutine"
    if "contentions" in types:
        return "contention"
    return "other"


def _decode(data: bytes, name: str) -> Profile:
    try:
        return decode_profile(data)
    except ProfileError as error:
        raise ProfileError(f"{name}: {error}", error.hint) from error


def _looks_like_metrics(data: bytes) -> bool:
    head = data[:4096].lstrip()
    return head.startswith(b"#") or (head[:1].isalpha() and b"\x00" not in head)


def load_paths(paths: Sequence[Path]) -> AnalysisInput:
    """Every file given, in order; a bundle contributes all it holds."""
    profiles: list[ProfileInput] = []
    metrics: list[MetricsSnapshot] = []
    facts: list[tuple[str, str]] = []
    for path in paths:
        # A regular file of bounded size, like every input (a FIFO or /dev/zero is refused before any read).
        data = read_input(path, max_bytes=DEFAULT_MAX_DECOMPRESSED)
        name = display_name(path.name)  # shown in tables, reports and messages: any bytes, escaped
        if path.name.endswith((".tar.gz", ".tgz")):
            bundle = load_bundle(path, data)
            profiles += bundle.profiles
            metrics += bundle.metrics
            facts += bundle.facts
            continue
        if data[:2] != b"\x1f\x8b" and _looks_like_metrics(data):
            # A metrics file's time is when it was written: what a rate between two snapshots is measured over.
            metrics.append(parse_metrics(data.decode("utf-8", "replace"), source=name, taken_at=path.stat().st_mtime))
            continue
        profile = _decode(data, name)
        profiles.append(ProfileInput(name, profile_kind(profile, name), profile))
    if not profiles and not metrics:
        raise UsageError("nothing to analyze", "give at least one profile, metrics file or bundle")
    return AnalysisInput(tuple(profiles), tuple(metrics), tuple(facts))


def load_bundle(path: Path, data: bytes, *, budget: Budget = DEFAULT,
                clock: Callable[[], float] = time.monotonic) -> AnalysisInput:  # fmt: skip
    """A bundle archive: its profiles (before/ and after/ snapshots keep their phase), metrics.txt, and the facts
    from manifest.json, pod.json, lease.json and versions.json. Read within the budget for archives."""
    members = read_archive(path.name, data, budget=budget, clock=clock)
    if layout.MANIFEST not in members:
        raise UsageError(f"{display_name(path.name)}: no {layout.MANIFEST} inside",
                         "give the .tar.gz that `bundle` wrote")
    return load_members(members, path.name, budget=budget)


_READ_CHUNK = 1 << 20


def read_archive(archive_name: str, data: bytes, *, budget: Budget = DEFAULT,
                 clock: Callable[[], float] = time.monotonic) -> dict[str, bytes]:  # fmt: skip
    """The members a bundle reader uses, by their names below the archive's top directory. Nothing is extracted
    or followed (links, devices and directories are passed over). Every member's size is counted from its header
    before it is inflated — a member passed over must be inflated too, to reach the next header — so the members'
    total, one member's size, their number and the time are held to the budget (``InputTooLarge``, exit 8)."""
    shown = display_name(archive_name)
    deadline = Deadline(budget.archive_seconds, shown, clock)
    members: dict[str, bytes] = {}
    count = announced = 0
    try:
        # Stream mode: members in order, one pass over the gzip stream, never a seek back.
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|gz") as archive:
            for member in archive:
                deadline.check()
                count += 1
                name = member.name.split("/", 1)[1] if "/" in member.name else member.name
                if count > budget.archive_members:
                    raise InputTooLarge(f"{shown}: more than {budget.archive_members} members (a bundle has a few "
                                        "dozen)")
                if member.size > budget.member_bytes:
                    raise InputTooLarge(f"{shown}: member {terminal(name)} is {member.size} bytes, over the bound "
                                        f"of {budget.member_bytes} for one member")
                announced += member.size
                if announced > budget.archive_bytes:
                    raise InputTooLarge(f"{shown}: its members inflate past {budget.archive_bytes} bytes "
                                        f"(at {terminal(name)})")
                if member.isfile() and _read_by_analysis(name):
                    extracted = archive.extractfile(member)
                    if extracted is not None:
                        members[name] = _read_member(extracted, deadline)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise ProfileError(f"{shown}: truncated or not a bundle archive ({terminal(str(error))})",
                           "give the whole .tar.gz that `kubectl rollouts-profile bundle` wrote") from error
    return members


def _read_by_analysis(name: str) -> bool:
    return layout.is_profile(name) or name in (layout.MANIFEST, layout.METRICS, layout.POD, layout.LEASE,
                                               layout.VERSIONS)


def _read_member(extracted: IO[bytes], deadline: Deadline) -> bytes:
    chunks = []
    while chunk := extracted.read(_READ_CHUNK):
        chunks.append(chunk)
        deadline.check()
    return b"".join(chunks)


def load_members(members: dict[str, bytes], bundle_name: str, *, budget: Budget = DEFAULT) -> AnalysisInput:
    """A bundle's files by their names inside it (``before/heap.pb.gz``, ``metrics.txt``, ``manifest.json``...):
    its profiles (before/ and after/ snapshots keep their phase), its metrics and its capture facts."""
    profiles = []
    for name in sorted(members, key=_bundle_order):
        if not layout.is_profile(name):
            continue
        profile = _decode(members[name], display_name(f"{bundle_name}:{name}"))
        profiles.append(ProfileInput(name, profile_kind(profile, name), profile, layout.phase_of(name)))
    metrics = []
    if layout.METRICS in members:
        text = members[layout.METRICS].decode("utf-8", "replace")
        created = layout.Manifest.from_json(_json_member(members, bundle_name, layout.MANIFEST, budget)).created_at
        metrics.append(parse_metrics(text, source=display_name(f"{bundle_name}:{layout.METRICS}"), budget=budget,
                                     taken_at=_epoch(created)))
    return AnalysisInput(tuple(profiles), tuple(metrics), tuple(_facts(bundle_name, members, budget)))


def _epoch(timestamp: str) -> float | None:
    """An RFC 3339 time (``2026-08-17T10:00:00Z``) as seconds since the epoch; None when it is not one."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _bundle_order(name: str) -> tuple[int, str]:
    return ({layout.BEFORE: 0, layout.AFTER: 2}.get(layout.phase_of(name), 1), name)


def _json_member(members: dict[str, bytes], bundle_name: str, name: str, budget: Budget) -> dict:
    try:
        value = budget_loads(members.get(name) or b"{}", name=display_name(f"{bundle_name}:{name}"), budget=budget)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _facts(bundle_name: str, members: dict[str, bytes], budget: Budget) -> list[tuple[str, str]]:
    manifest = layout.Manifest.from_json(_json_member(members, bundle_name, layout.MANIFEST, budget))
    versions = _json_member(members, bundle_name, layout.VERSIONS, budget)
    lease = _json_member(members, bundle_name, layout.LEASE, budget)
    pod = _json_member(members, bundle_name, layout.POD, budget)
    server = versions.get("server") or {}
    facts = [
        ("bundle", bundle_name),
        ("created", manifest.created_at),
        ("namespace", manifest.controller.namespace),
        ("pod", manifest.controller.pod),
        ("image", manifest.controller.image or str(versions.get("controllerImage") or "")),
        ("leader", str((lease.get("spec") or {}).get("holderIdentity") or "")),
        ("node", str((pod.get("spec") or {}).get("nodeName") or "")),
        ("kubernetes", str(server.get("gitVersion") or "")),
        ("plugin", manifest.plugin or str(versions.get("plugin") or "")),
        ("cpu seconds", str(manifest.cpu_seconds or "")),
        ("complete", "" if manifest.complete is None else str(manifest.complete)),
    ]
    return [(key, value) for key, value in facts if value]
