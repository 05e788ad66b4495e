"""The bundle's layout: a bundle written by this version is read back field for field, and a foreign manifest's
fields of the wrong type read as their defaults."""

from __future__ import annotations

import dataclasses
import json
import tarfile
from datetime import datetime, timezone
from pathlib import Path

from kubectl_rollouts_profile import bundlelayout as layout
from kubectl_rollouts_profile.analysis.inputs import load_bundle
from kubectl_rollouts_profile.pipeline import Destination
from kubectl_rollouts_profile.runbook.bundle import BundleItem, Collector, write_archive


def _manifest() -> layout.Manifest:
    """Every field set to something other than its default."""
    when = datetime(2026, 12, 1, 1, 2, 3, tzinfo=timezone.utc)
    items = (BundleItem(layout.METRICS, when, when, size=12, sha256="ab" * 32).entry(),
             BundleItem("block.pb.gz", when, when, note="empty").entry(),
             BundleItem(layout.POD, when, when, error="forbidden").entry())
    return layout.Manifest(bundle="pod-bundle-20261201T010203Z", created_at="2026-12-01T01:02:03.000000Z",
                           plugin="9.9.9", controller=layout.ManifestPod("ns", "pod-a", "img:v1"), cpu_seconds=7,
                           complete=False, warnings=("lock lost",), load={"busy": True}, items=items)


def test_every_manifest_field_is_set_in_the_example() -> None:
    manifest = _manifest()
    for spec in dataclasses.fields(manifest):
        assert getattr(manifest, spec.name) != getattr(layout.Manifest(), spec.name), spec.name


def test_a_written_bundle_reads_back_field_for_field(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    collector = Collector(work)
    collector.add(layout.METRICS, lambda: b"go_goroutines 12\n")
    manifest = _manifest()
    archive = write_archive(collector, manifest.as_json(), Destination(directory=tmp_path), stem="pod-bundle")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        read = tar.extractfile(f"pod-bundle/{layout.MANIFEST}")
        assert read is not None
        manifest_json = json.load(read)
    assert names == [f"pod-bundle/{layout.MANIFEST}", f"pod-bundle/{layout.METRICS}"]
    assert layout.Manifest.from_json(manifest_json) == manifest
    assert manifest_json["items"][1]["note"] == "empty" and "note" not in manifest_json["items"][0]
    facts = dict(load_bundle(archive, archive.read_bytes()).facts)
    assert (facts["namespace"], facts["pod"], facts["image"]) == ("ns", "pod-a", "img:v1")
    assert (facts["created"], facts["plugin"], facts["cpu seconds"], facts["complete"]) == (
        manifest.created_at, "9.9.9", "7", "False")


def test_foreign_fields_of_the_wrong_type_read_as_defaults() -> None:
    read = layout.Manifest.from_json({"bundle": 3, "cpuSeconds": "30", "complete": 1, "warnings": ["a", 2],
                                      "target": {"pod": "p", "image": None}, "items": [{"size": "1"}, 5]})
    assert read == layout.Manifest(warnings=("a",), controller=layout.ManifestPod(pod="p"),
                                   items=(layout.ManifestItem(),))
    assert layout.Manifest.from_json([1, 2]) == layout.Manifest()


def test_members_and_phases() -> None:
    assert layout.profile_member("before/heap") == "before/heap.pb.gz"
    assert [layout.phase_of(name) for name in ("before/heap.pb.gz", "after/x.pb.gz", "cpu.pb.gz", "x/before")] == [
        "before", "after", "", ""]
