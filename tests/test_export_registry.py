"""The renderer registry: one object per format with its name, extension and capabilities; every renderer on an
empty profile (not a profile: exit 8), a sample-less one, an odd one and a diff."""

from __future__ import annotations

import io

import pytest

from kubectl_rollouts_profile.errors import ProfileError, UsageError
from kubectl_rollouts_profile.export import RENDERERS, Renderer, get_renderer, render
from kubectl_rollouts_profile.pprof.model import Function, Line, Location, Profile, ValueType
from kubectl_rollouts_profile.pprof.transform import diff


def _odd_profile() -> Profile:
    return Profile(
        sample_types=(ValueType("events", "widgets"), ValueType("delay", "microseconds")),
        sample_locations=((1,), (2, 1), (1,), ()),
        sample_values=((3, 1500), (0, 0), (2, 7), (1, 1)),
        locations={1: Location(1, lines=(Line(2, 10), Line(1, 4))), 2: Location(2, address=0xDEADBEEF)},
        functions={1: Function(1, "main.outer", filename="main.go", start_line=3), 2: Function(2, "main.inlined")},
    )


def test_registry_lists_the_formats_in_order_with_their_capabilities():
    assert list(RENDERERS) == ["speedscope", "html", "top", "folded"]
    assert {name: renderer.extension for name, renderer in RENDERERS.items()} == {
        "speedscope": ".speedscope.json", "html": ".html", "top": ".top.txt", "folded": ".folded.txt",
    }  # fmt: skip
    assert [name for name, renderer in RENDERERS.items() if renderer.streams] == ["speedscope", "folded"]
    assert [name for name, renderer in RENDERERS.items() if not renderer.shows_negative] == ["speedscope"]
    for name, renderer in RENDERERS.items():
        assert isinstance(renderer, Renderer)
        assert renderer.name == name
        assert get_renderer(name) is renderer


def test_an_unknown_format_is_a_usage_error_naming_the_choices():
    with pytest.raises(UsageError, match="unknown format 'svg'") as caught:
        get_renderer("svg")
    assert caught.value.hint == "choose one of: speedscope, html, top, folded"


@pytest.mark.parametrize("name", list(RENDERERS))
def test_a_profile_without_sample_types_is_not_a_profile(name):
    out = io.BytesIO()
    with pytest.raises(ProfileError, match="not a profile") as caught:
        RENDERERS[name].render_to(Profile(), out, title="empty")
    assert caught.value.exit_code == 8
    assert out.getvalue() == b""


@pytest.mark.parametrize("name", list(RENDERERS))
def test_every_renderer_shows_a_sample_less_and_an_odd_profile(name):
    assert isinstance(render(Profile(sample_types=(ValueType("samples", "count"),)), name, title="t"), bytes)
    text = render(_odd_profile(), name, title="odd", sample_index="events").decode()
    assert "main.outer" in text


@pytest.mark.parametrize("name", list(RENDERERS))
def test_an_unknown_sample_type_is_a_profile_error(name):
    with pytest.raises(ProfileError, match="unknown sample type 'nope'"):
        render(_odd_profile(), name, title="t", sample_index="nope")


@pytest.mark.parametrize("name", list(RENDERERS))
def test_a_diff_is_shown_exactly_by_the_renderers_that_show_negative_values(name):
    difference = diff(_odd_profile(), Profile(sample_types=_odd_profile().sample_types))
    assert difference.has_negative_values()
    if RENDERERS[name].shows_negative:
        assert "main.outer" in render(difference, name, title="d").decode()
    else:
        with pytest.raises(ProfileError, match="negative"):
            render(difference, name, title="d")
