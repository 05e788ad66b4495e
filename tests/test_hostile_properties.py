"""Property tests: hostile names, label values and numbers (control characters, escape sequences, '<!--<script>',
bidirectional overrides, NaN and ±Inf, huge numbers) through every renderer, the metrics parser, the load reading,
the analysis' --json and the safe-text helpers. Whatever they hold, a terminal line has no control character, an
inline script no '<', and every JSON document is strict."""

from __future__ import annotations

import json
import math
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubectl_rollouts_profile.analysis.inputs import AnalysisInput, ProfileInput
from kubectl_rollouts_profile.analysis.metrics import parse_metrics
from kubectl_rollouts_profile.analysis.report import render_report
from kubectl_rollouts_profile.analysis.run import analyze, result_json, result_text
from kubectl_rollouts_profile.export import render
from kubectl_rollouts_profile.loadguard import LoadThresholds, read_load
from kubectl_rollouts_profile.safe import display_name, dumps, finite, script_json, terminal, terminal_lines
from tests.clitools import refuse_constant
from tests.test_hostile_inputs import named_profile, script_data

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# What a terminal must never receive raw: C0 but newline, DEL, C1, bidi controls, separators, surrogates.
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")

HOSTILE_PIECES = ["\x1b]0;owned\x07", "\x1b[2J", "\x9b31m", "<!--", "<script>", "</script>", "\u202e", "\n", "\r",
                  "\t", ";", " ", "&amp;", '"', "\\", "\u2028", "\x00"]
hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(min_size=1, max_size=6)),
                        min_size=1, max_size=6).map("".join)
# Names as a profile's string table can hold them (valid Unicode: no lone surrogates).
names = st.lists(hostile_text.filter(lambda text: not re.search("[\ud800-\udfff]", text)),
                 min_size=1, max_size=5, unique=True).map(lambda found: [f"pkg.{name}" for name in found])
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**30), 10**30))


def strict(text: str) -> object:
    return json.loads(text, parse_constant=refuse_constant)


@SETTINGS
@given(names)
def test_every_renderer_keeps_hostile_names_in_their_place(found: list[str]) -> None:
    profile = named_profile(*found)
    for fmt in ("top", "folded"):
        text = render(profile, fmt, title="t").decode()
        assert not UNSAFE.search(text), fmt
        assert len(text.splitlines()) == (len(found) + 4 if fmt == "top" else len(found))
    data = script_data(render(profile, "html", title="t"))
    assert set(found) <= set(data["names"])
    speedscope = strict(render(profile, "speedscope", title="t").decode())
    assert [frame["name"] for frame in speedscope["shared"]["frames"]] == found  # type: ignore[index]


@SETTINGS
@given(names)
def test_analysis_text_json_and_report_of_hostile_names(found: list[str]) -> None:
    data = AnalysisInput(profiles=(ProfileInput(found[0], "other", named_profile(*found)),))
    result = analyze(data, by="function")
    assert not UNSAFE.search(terminal_lines(result_text(result)))
    strict(dumps(result_json(result)))
    page = render_report(data, result.findings, title=found[0]).decode()
    for script in re.findall(r"<script>(.*?)</script>", page, re.S):
        assert "<!--" not in script


def escape_label(value: str) -> str:
    """A label value as the text exposition writes it (backslash, quote and newline escaped)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metrics_page(rows: list[tuple[str, float | int]]) -> str:
    lines = ["# TYPE workqueue_depth gauge"]
    for label, value in rows:
        lines.append(f'workqueue_depth{{name="{escape_label(label)}"}} {value!r}')
    return "\n".join(lines) + "\n"


@SETTINGS
@given(st.lists(st.tuples(hostile_text, numbers), min_size=1, max_size=6, unique_by=lambda row: row[0]),
       numbers, numbers)
def test_hostile_labels_and_numbers_through_the_load_reading(rows: list[tuple[str, float | int]],
                                                            goroutines: float | int, cpu: float | int) -> None:
    page = metrics_page(rows) + f"go_goroutines {goroutines!r}\nprocess_resident_memory_bytes {cpu!r}\n"
    snapshot = parse_metrics(page)
    assert all(math.isfinite(sample.value) for sample in snapshot.samples)
    reading = read_load(lambda: page.encode(), source="s", thresholds=LoadThresholds())
    for line in (reading.summary(), *reading.reasons, *reading.warnings):
        assert not UNSAFE.search(line)
    strict(dumps(reading.as_json()))


@SETTINGS
@given(st.recursive(st.one_of(numbers, hostile_text, st.none(), st.booleans()),
                    lambda inner: st.one_of(st.lists(inner, max_size=4),
                                            st.dictionaries(hostile_text, inner, max_size=4)), max_leaves=20))
def test_every_json_document_is_strict(value: object) -> None:
    strict(dumps(value))
    embedded = script_json(finite(value))  # the page data holds finite numbers only (counts, a threshold)
    assert "<" not in embedded and ">" not in embedded


@SETTINGS
@given(st.text(), st.binary(max_size=40))
def test_terminal_and_file_name_forms(text: str, raw: bytes) -> None:
    line = terminal(text)
    assert not UNSAFE.search(line) and "\n" not in line
    assert terminal(line) == line  # already safe: unchanged
    if not UNSAFE.search(text) and "\n" not in text:
        assert line == text
    shown = display_name(raw.decode("utf-8", "surrogateescape"))
    shown.encode("utf-8")  # never a lone surrogate: it encodes anywhere
    assert not UNSAFE.search(shown)


METRIC_NAMES = ("rollout_reconcile_count", "rollout_reconcile_sum", "rollout_reconcile_bucket", "go_goroutines",
                "workqueue_depth", "workqueue_adds_total", "workqueue_retries_total", "process_cpu_seconds_total",
                "process_resident_memory_bytes", "controller_clientset_k8s_request_total",
                "analysis_run_reconcile_count", "experiment_reconcile_count", "workqueue_unfinished_work_seconds",
                "workqueue_longest_running_processor_seconds")


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(METRIC_NAMES), hostile_text, hostile_text, numbers), min_size=1,
                max_size=12), st.lists(numbers, min_size=1, max_size=12))
def test_hostile_numbers_and_labels_through_every_metrics_judgement(rows: list[tuple[str, str, str, float | int]],
                                                                    later: list[float | int]) -> None:
    """Two snapshots of the controller's metric names with hostile labels (namespace, name, le) and numbers: the
    analysis (every finding rule), its text, its --json and its report never fail and never write NaN."""
    def page(values: list[float | int]) -> str:
        lines = []
        for (name, namespace, label, _), value in zip(rows, values, strict=False):
            labels = f'namespace="{escape_label(namespace)}",name="{escape_label(label)}",le="{escape_label(label)}"'
            lines.append(f"{name}{{{labels}}} {value!r}")
        return "\n".join(lines) + "\n"

    first = parse_metrics(page([row[3] for row in rows]), source="a", taken_at=1000.0)
    second = parse_metrics(page(later + [row[3] for row in rows]), source="b", taken_at=1060.0)
    data = AnalysisInput(metrics=(first, second))
    result = analyze(data)
    assert not UNSAFE.search(terminal_lines(result_text(result)))
    strict(dumps(result_json(result)))
    render_report(data, result.findings, title="t")
