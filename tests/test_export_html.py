"""The flame graph page in headless Chromium: no network request besides the file, not blank, a click zooms,
search finds the Go target's functions, hover shows value and share; small frames merged with a bounded size."""

from __future__ import annotations

import json
import random
import re

import pytest
import requests

from kubectl_rollouts_profile.export import flamegraph, render
from kubectl_rollouts_profile.export.flamegraph import build_tree, render_flamegraph
from kubectl_rollouts_profile.pprof.decode import decode_profile
from kubectl_rollouts_profile.pprof.model import Function, Line, Location, Profile, ValueType
from kubectl_rollouts_profile.pprof.stacks import stack_table
from tests.web.browser import Browser, chromium_path, png_colors

NO_CHROMIUM = "chromium is not installed (apt-get install -y chromium)"
needs_chromium = pytest.mark.skipif(chromium_path() is None, reason=NO_CHROMIUM)


def _fetch(go_new, path: str) -> Profile:
    response = requests.get(go_new.base_url + path, timeout=30)
    response.raise_for_status()
    return decode_profile(response.content)


@pytest.fixture(scope="module")
def cpu_profile(go_new) -> Profile:
    return _fetch(go_new, "/debug/pprof/profile/?seconds=1")


@pytest.fixture(scope="module")
def heap_profile(go_new) -> Profile:
    return _fetch(go_new, "/debug/pprof/heap")


@pytest.fixture(scope="module")
def browser():
    if chromium_path() is None:
        pytest.skip(NO_CHROMIUM)
    with Browser() as opened:
        yield opened


def _open(browser: Browser, tmp_path, profile: Profile, title: str, **options) -> str:
    path = tmp_path / "page.html"
    path.write_bytes(render(profile, "html", title=title, **options))
    browser.events.clear()
    url = path.as_uri()
    browser.navigate(url)
    browser.wait_for("document.querySelectorAll('#chart .f').length > 1")
    return url


def _center_of(browser: Browser, frame_name: str) -> tuple[float, float]:
    box = browser.evaluate(
        "(() => { const d = [...document.querySelectorAll('#chart .f')]"
        f".find(e => e.textContent === {json.dumps(frame_name)}); if (!d) return null;"
        " const r = d.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    assert box, f"{frame_name} is not drawn"
    return box[0], box[1]


def _mouse(browser: Browser, kind: str, x: float, y: float) -> None:
    extra = {"button": "left", "clickCount": 1} if kind != "mouseMoved" else {}
    browser.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, **extra)


def _search(browser: Browser, text: str) -> str:
    browser.evaluate(
        f"(() => {{ const s = document.getElementById('search'); s.value = {json.dumps(text)};"
        " s.dispatchEvent(new Event('input')); })()"
    )
    return browser.evaluate("document.getElementById('matches').textContent")


@needs_chromium
def test_page_is_self_contained_and_not_blank(browser, tmp_path, cpu_profile):
    url = _open(browser, tmp_path, cpu_profile, "argo-rollouts-x cpu")
    assert browser.requested_urls() == [url]
    page = (tmp_path / "page.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page)
    assert browser.console_errors() == []
    assert png_colors(browser.screenshot_png()) > 4
    assert browser.evaluate("document.title") == "argo-rollouts-x cpu"


@needs_chromium
def test_a_comment_opener_in_a_name_does_not_blank_the_page(browser, tmp_path):
    """'<!--<script>' inside the inline script used to swallow the rest of the page (a blank flame graph)."""
    from tests.test_hostile_inputs import named_profile

    hostile = ["main.<!--<script>", "main.</script><!--", "main.ok"]
    _open(browser, tmp_path, named_profile(*hostile), "<!--<script>")
    for name in hostile:
        _center_of(browser, name)
    assert browser.evaluate("document.title") == "<!--<script>"
    assert browser.console_errors() == []


@needs_chromium
def test_click_zooms_into_a_frame(browser, tmp_path, cpu_profile):
    _open(browser, tmp_path, cpu_profile, "cpu")
    chart_width = browser.evaluate("document.getElementById('chart').clientWidth")
    before = browser.evaluate("[...document.querySelectorAll('#chart .f')].find(e => e.textContent === 'main.burnCPU')"
                              ".getBoundingClientRect().width")  # fmt: skip
    assert before < chart_width - 2  # the burner is not the whole profile: main.contend runs too
    x, y = _center_of(browser, "main.burnCPU")
    _mouse(browser, "mousePressed", x, y)
    _mouse(browser, "mouseReleased", x, y)
    after = browser.wait_for(
        "(() => { const d = [...document.querySelectorAll('#chart .f')].find(e => e.textContent === 'main.burnCPU');"
        " return d && d.getBoundingClientRect().width; })()"
    )
    assert after == pytest.approx(chart_width, abs=1)
    assert "main.contend" not in browser.evaluate("document.getElementById('chart').innerText")
    browser.evaluate("document.getElementById('reset').click()")
    assert "main.contend" in browser.evaluate("document.getElementById('chart').innerText")


@needs_chromium
def test_search_highlights_and_shows_share(browser, tmp_path, cpu_profile):
    _open(browser, tmp_path, cpu_profile, "cpu")
    summary = _search(browser, "main.burnCPU")
    share = float(re.match(r"(\d+) matching frames, ([\d.]+)% of total", summary).group(2))
    stacks = stack_table(cpu_profile, (cpu_profile.sample_index("cpu"),))
    names = [frame.name for frame in stacks.frames]
    expected = sum(v for s, (v,) in zip(stacks.stacks, stacks.values, strict=True)
                   if "main.burnCPU" in (names[f] for f in s)) / cpu_profile.total("cpu") * 100  # fmt: skip
    assert share == pytest.approx(expected, abs=0.01)
    assert browser.evaluate("[...document.querySelectorAll('.f.match')].map(e => e.textContent)") == ["main.burnCPU"]
    assert _search(browser, "no.such.function") == "0 matching frames, 0.00% of total"
    assert _search(browser, "/^crypto/sha256/").startswith(("1 ", "2 ", "3 ", "4 ", "5 ", "6 "))


@needs_chromium
def test_hover_shows_value_and_percentage(browser, tmp_path, heap_profile):
    _open(browser, tmp_path, heap_profile, "heap")
    x, y = _center_of(browser, "main.retainMemory")
    _mouse(browser, "mouseMoved", x, y)
    status = browser.wait_for("(() => { const t = document.getElementById('status').textContent;"
                              " return t.startsWith('main.retainMemory') && t; })()")  # fmt: skip
    assert re.fullmatch(r"main\.retainMemory  [\d.]+[kMG]?B \([\d.]+%\)", status)
    assert _search(browser, "main.retainMemory").startswith("1 matching frames")


@needs_chromium
def test_selector_switches_sample_type(browser, tmp_path, heap_profile):
    _open(browser, tmp_path, heap_profile, "heap")
    options = browser.evaluate("[...document.querySelectorAll('#type option')].map(o => o.textContent)")
    assert options == ["alloc_objects (count)", "alloc_space (bytes)", "inuse_objects (count)", "inuse_space (bytes)"]
    assert browser.evaluate("document.getElementById('type').value") == "3"
    browser.evaluate("(() => { const s = document.getElementById('type'); s.value = '1';"
                     " s.dispatchEvent(new Event('change')); })()")  # fmt: skip
    x, y = _center_of(browser, "total")
    _mouse(browser, "mouseMoved", x, y)
    status = browser.wait_for("document.getElementById('status').textContent.startsWith('total') &&"
                              " document.getElementById('status').textContent")  # fmt: skip
    from kubectl_rollouts_profile.export.units import scaled_label

    assert status == f"total  {scaled_label(heap_profile.total('alloc_space'), 'bytes')} (100.00%)"


def _wide_profile(stacks: int, seed: int = 7) -> Profile:
    """Many distinct, mostly tiny stacks over a few hundred functions, plus one heavy stack."""
    rng = random.Random(seed)
    functions = {i: Function(i, f"pkg.fn{i}", filename="x.go") for i in range(1, 401)}
    locations = {i: Location(i, lines=(Line(i, 1),)) for i in range(1, 401)}
    sample_locations = [tuple(rng.randrange(1, 401) for _ in range(rng.randrange(3, 12))) for _ in range(stacks)]
    sample_values = [(1,)] * stacks
    sample_locations.append((1, 2, 3))
    sample_values.append((stacks,))
    return Profile(
        sample_types=(ValueType("samples", "count"),),
        sample_locations=tuple(sample_locations),
        sample_values=tuple(sample_values),
        sample_labels=((),) * (stacks + 1),
        locations=locations,
        functions=functions,
    )


def test_tree_keeps_the_total_and_merges_small_frames():
    profile = _wide_profile(5000)
    tree = build_tree(stack_table(profile), threshold=0.001)
    assert tree.root.grow == [profile.total()]
    assert tree.merged_nodes > 1000
    # What was merged away is the sum of the small frames that hang below kept ones.
    kept = [tree.root]
    index = 0
    while index < len(kept):
        kept.extend(kept[index].children)
        index += 1
    assert all(node.grow[0] >= 0.001 * profile.total() for node in kept[1:])
    assert tree.merged_value[0] > 0


@needs_chromium
def test_page_says_how_much_was_merged(browser, tmp_path):
    _open(browser, tmp_path, _wide_profile(5000), "wide")
    note = browser.evaluate("document.getElementById('note').textContent")
    pattern = r"Frames under 0\.1% of the total are merged into their callers: \d+ frames, [\d.]+% of samples\."
    assert re.fullmatch(pattern, note)


def test_huge_profile_gives_a_bounded_page():
    page = render(_wide_profile(50_000, seed=3), "html", title="huge")
    assert len(page) <= 5 * 1024 * 1024
    assert b"pkg.fn" in page


def test_a_page_over_budget_is_merged_more_coarsely(monkeypatch):
    profile = _wide_profile(5_000, seed=5)
    fine = render_flamegraph(profile, title="fine", threshold=0.00001)
    monkeypatch.setattr(flamegraph, "MAX_DATA_BYTES", len(fine) // 10)
    coarse = render_flamegraph(profile, title="coarse", threshold=0.00001)
    data = json.loads(re.search(rb"const DATA = (.*);\n", coarse).group(1))
    assert len(json.dumps(data, separators=(",", ":")).encode()) <= len(fine) // 10
    assert data["threshold"] > 0.00001
    assert data["mergedNodes"] > 0


def test_sample_less_profile_renders_a_page():
    page = render(Profile(sample_types=(ValueType("samples", "count"),)), "html", title="empty").decode()
    assert "<title>empty</title>" in page


def test_title_and_names_cannot_break_out_of_the_page():
    profile = Profile(
        sample_types=(ValueType("samples", "count"),),
        sample_locations=((1,),),
        sample_values=((1,),),
        sample_labels=((),),
        locations={1: Location(1, lines=(Line(1, 1),))},
        functions={1: Function(1, "</script><script>alert(1)</script>")},
    )
    page = render(profile, "html", title="<b>x</b>").decode()
    assert "</script><script>alert(1)" not in page
    assert "<title>&lt;b&gt;x&lt;/b&gt;</title>" in page
