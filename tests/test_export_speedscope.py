"""speedscope export: every export validates against the file-format-schema.json shipped in speedscope's npm
package (installed at test time into .cache/node), and one export loads in the real speedscope app in headless
Chromium without an import error."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path

import jsonschema
import pytest
import requests

from kubectl_rollouts_profile import __version__
from kubectl_rollouts_profile.errors import ProfileError
from kubectl_rollouts_profile.export import get_renderer, render
from kubectl_rollouts_profile.pprof.decode import decode_profile
from kubectl_rollouts_profile.pprof.model import Function, Line, Location, Profile, ValueType
from kubectl_rollouts_profile.pprof.transform import diff
from tests.web.browser import Browser, chromium_path, png_colors

REPO = Path(__file__).resolve().parent.parent
NODE_PREFIX = REPO / ".cache" / "node"
SPEEDSCOPE = NODE_PREFIX / "node_modules" / "speedscope" / "dist" / "release"


@pytest.fixture(scope="session")
def speedscope_release() -> Path:
    if not (SPEEDSCOPE / "file-format-schema.json").exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed, so speedscope's package (schema and app) cannot be fetched")
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(NODE_PREFIX), "speedscope"],
                       check=True, capture_output=True)  # fmt: skip
    return SPEEDSCOPE


@pytest.fixture(scope="session")
def schema_validator(speedscope_release):
    schema = json.loads((speedscope_release / "file-format-schema.json").read_text())
    return jsonschema.Draft7Validator(schema)


@pytest.fixture(scope="module")
def real_profiles(go_new) -> dict[str, Profile]:
    paths = {"heap": "/debug/pprof/heap", "goroutine": "/debug/pprof/goroutine", "allocs": "/debug/pprof/allocs",
             "cpu": "/debug/pprof/profile/?seconds=1"}  # fmt: skip
    profiles = {}
    for name, path in paths.items():
        response = requests.get(go_new.base_url + path, timeout=30)
        response.raise_for_status()
        profiles[name] = decode_profile(response.content)
    return profiles


def _odd_profile() -> Profile:
    """Inlined frames, an unsymbolized location, a unit speedscope does not know, a zero-value sample."""
    functions = {1: Function(1, "main.outer", filename="main.go", start_line=3), 2: Function(2, "main.inlined")}
    locations = {
        1: Location(1, lines=(Line(2, 10), Line(1, 4))),
        2: Location(2, address=0xDEADBEEF),
    }
    return Profile(
        sample_types=(ValueType("events", "widgets"), ValueType("delay", "microseconds")),
        sample_locations=((1,), (2, 1), (1,)),
        sample_values=((3, 1500), (0, 0), (2, 7)),
        sample_labels=((), (), ()),
        locations=locations,
        functions=functions,
    )


@pytest.mark.parametrize("kind", ["heap", "goroutine", "allocs", "cpu"])
def test_real_exports_follow_the_schema(real_profiles, schema_validator, kind):
    profile = real_profiles[kind]
    document = json.loads(render(profile, "speedscope", title=f"argo-rollouts-7d9f {kind}"))
    schema_validator.validate(document)
    assert len(document["profiles"]) == len(profile.sample_types)
    assert document["exporter"] == f"kubectl-rollouts-profile@{__version__}"
    active = document["profiles"][document["activeProfileIndex"]]
    assert active["name"] == f"argo-rollouts-7d9f {kind} {profile.sample_types[profile.sample_index()].type}"
    for position, value_type in enumerate(profile.sample_types):
        exported = document["profiles"][position]
        assert sum(exported["weights"]) == exported["endValue"] == profile.total(position)
        assert exported["unit"] == {"bytes": "bytes", "nanoseconds": "nanoseconds"}.get(value_type.unit, "none")


def test_heap_export_is_active_on_inuse_space_and_frames_carry_files(real_profiles):
    document = json.loads(render(real_profiles["heap"], "speedscope", title="h"))
    assert document["activeProfileIndex"] == 3
    frames = {frame["name"]: frame for frame in document["shared"]["frames"]}
    assert frames["main.retainMemory"]["file"].endswith("main.go")


def test_sample_index_picks_the_active_profile(real_profiles):
    document = json.loads(render(real_profiles["heap"], "speedscope", title="h", sample_index="alloc_space"))
    assert document["activeProfileIndex"] == 1


def test_odd_and_empty_profiles_follow_the_schema(schema_validator):
    document = json.loads(render(_odd_profile(), "speedscope", title="odd"))
    schema_validator.validate(document)
    names = [frame["name"] for frame in document["shared"]["frames"]]
    assert {"name": "main.outer", "file": "main.go", "line": 3} in document["shared"]["frames"]
    first, second = document["profiles"]
    assert first["unit"] == "none" and second["unit"] == "nanoseconds"
    assert second["weights"] == [1_507_000]  # microseconds become nanoseconds
    # Inlined call: the outer function is the root, the inlined one the leaf.
    assert [names[i] for i in first["samples"][0]] == ["main.outer", "main.inlined"]
    assert first["weights"] == [5]  # the two identical stacks merged; the zero-value one dropped
    sample_less = Profile(sample_types=(ValueType("samples", "count"),))
    schema_validator.validate(json.loads(render(sample_less, "speedscope", title="empty")))


def test_written_to_a_file_equals_rendered_in_memory(real_profiles, tmp_path):
    path = tmp_path / "heap.speedscope.json"
    with path.open("wb") as out:
        get_renderer("speedscope").render_to(real_profiles["heap"], out, title="h", sample_index="alloc_objects")
    assert path.read_bytes() == render(real_profiles["heap"], "speedscope", title="h", sample_index="alloc_objects")
    assert json.loads(path.read_bytes())["activeProfileIndex"] == 0


def test_zero_weights_are_dropped_at_the_start_middle_and_end(schema_validator):
    functions = {i: Function(i, f"main.f{i}") for i in range(1, 6)}
    locations = {i: Location(i, lines=(Line(i, i),)) for i in range(1, 6)}
    first_values, second_values = (0, 2, 0, 0, 3), (1, 0, 1, 1, 0)
    profile = Profile(
        sample_types=(ValueType("a", "count"), ValueType("b", "count")),
        sample_locations=tuple((i,) for i in range(1, 6)),
        sample_values=tuple(zip(first_values, second_values, strict=True)),
        sample_labels=((),) * 5,
        locations=locations,
        functions=functions,
    )
    document = json.loads(render(profile, "speedscope", title="z"))
    schema_validator.validate(document)
    names = [frame["name"] for frame in document["shared"]["frames"]]
    for exported, values in zip(document["profiles"], (first_values, second_values), strict=True):
        pairs = zip(exported["samples"], exported["weights"], strict=True)
        shown = {names[stack[0]]: weight for stack, weight in pairs}
        assert shown == {f"main.f{i}": value for i, value in enumerate(values, 1) if value}


def test_a_sample_without_locations_is_an_empty_stack(schema_validator):
    functions = {1: Function(1, "main.a"), 2: Function(2, "main.b")}
    locations = {1: Location(1, lines=(Line(1, 1),)), 2: Location(2, lines=(Line(2, 1),))}
    profile = Profile(
        sample_types=(ValueType("samples", "count"),),
        sample_locations=((1,), (), (2, 1)),
        sample_values=((1,), (2,), (4,)),
        sample_labels=((), (), ()),
        locations=locations,
        functions=functions,
    )
    document = json.loads(render(profile, "speedscope", title="e"))
    schema_validator.validate(document)
    names = [frame["name"] for frame in document["shared"]["frames"]]
    exported = document["profiles"][0]
    stacks = {tuple(names[i] for i in stack): weight for stack, weight in zip(exported["samples"],
                                                                             exported["weights"], strict=True)}
    assert stacks == {("main.a",): 1, (): 2, ("main.a", "main.b"): 4}


def test_a_diff_is_refused_instead_of_written_broken(real_profiles):
    with pytest.raises(ProfileError, match="negative"):
        render(diff(real_profiles["goroutine"], Profile(sample_types=real_profiles["goroutine"].sample_types)),
               "speedscope", title="d")  # fmt: skip


@pytest.fixture
def served_speedscope(speedscope_release, tmp_path):
    """speedscope's release folder plus our export, served on a free loopback port."""
    root = tmp_path / "app"
    shutil.copytree(speedscope_release, root)

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_export_loads_in_the_real_speedscope_app(real_profiles, served_speedscope):
    root, base = served_speedscope
    (root / "cpu.speedscope.json").write_bytes(render(real_profiles["cpu"], "speedscope", title="argo-rollouts-x cpu"))
    with Browser() as browser:
        browser.navigate(f"{base}/index.html#profileURL={base}/cpu.speedscope.json")
        browser.wait_for("document.title.includes('argo-rollouts-x') || document.body.innerText.includes('wrong')")
        text = browser.evaluate("document.body.innerText")
        assert "Something went wrong" not in text
        assert browser.evaluate("document.title") == "argo-rollouts-x cpu cpu - speedscope"
        assert "argo-rollouts-x cpu cpu (2/2)" in text
        assert browser.console_errors() == []
        assert png_colors(browser.screenshot_png()) > 4
