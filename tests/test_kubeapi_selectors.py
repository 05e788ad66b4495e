"""The label and field selector grammar of the test API server, checked on plain label maps."""

from __future__ import annotations

import pytest

from tests.kubeapi.selectors import SelectorError, labels_match, parse_field_selector, parse_label_selector

LABELS = {"app": "rollouts", "tier": "backend", "replicas": "3"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("app=rollouts", True),
        ("app==rollouts", True),
        ("app = rollouts , tier = backend", True),
        ("app!=rollouts", False),
        ("missing!=x", True),
        ("tier in (frontend,backend)", True),
        ("tier in (frontend)", False),
        ("tier notin (frontend)", True),
        ("missing notin (a)", True),
        ("app", True),
        ("!app", False),
        ("!missing", True),
        ("replicas>2", True),
        ("replicas<2", False),
        ("app=", False),
    ],
)
def test_label_selector(selector, matches):
    assert labels_match(parse_label_selector(selector), LABELS) is matches


@pytest.mark.parametrize("selector", ["a in b", "a in (b", "=x", "a=b c", "replicas>x"])
def test_invalid_label_selectors_are_rejected(selector):
    with pytest.raises(SelectorError):
        parse_label_selector(selector)


def test_field_selector():
    obj = {"metadata": {"name": "p1", "namespace": "ns"}, "status": {"phase": "Running"}}
    assert parse_field_selector("metadata.name=p1,status.phase=Running", ("status.phase",))(obj)
    assert not parse_field_selector("metadata.name!=p1", ())(obj)
    with pytest.raises(SelectorError, match="field label not supported: status.phase"):
        parse_field_selector("status.phase=Running", ())
