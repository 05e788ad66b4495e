"""Known Argo Rollouts issues that a profile or the metrics can recognise, kept as data: the issue, the versions
it affects, the pull request and merge commit that fixed it and the first release tag holding that commit, and its
signature (the finding it shows as, and the frames or metric labels that finding's evidence must hold).

Every row was checked against argoproj/argo-rollouts: the issue thread, the fixing pull request, its merge commit
(``git log --all --grep '#N'``) and ``git tag --contains <commit>`` for the first release tag. A row without a fix
(``fixed_in`` None) is an issue no release fixes yet.

The controller's version comes from the capture facts (``version``, or the tag of the controller's ``image``) or
from ``argo_rollouts_controller_info{version}`` in its metrics; a finding that matches a row says so, unless the
version in use already holds the fix (then it says the fix is in, so something else is the cause)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

REPO = "argoproj/argo-rollouts"


@dataclass(frozen=True)
class KnownIssue:
    number: int
    title: str
    affected: str  # the releases that have it, as upstream's tags say
    fixed_in: str | None  # the first release tag holding the fix; None: no release fixes it yet
    fix_pr: int | None
    fix_commit: str  # the merge commit of the fix on master ("" when there is none)
    finding: str  # the finding id it shows as
    signature: tuple[str, ...]  # every one must be a substring of something in the finding's evidence tokens
    note: str  # what the issue is, in one line

    @property
    def url(self) -> str:
        return f"https://github.com/{REPO}/issues/{self.number}"


KNOWN_ISSUES: tuple[KnownIssue, ...] = (
    KnownIssue(
        4571, "Possible memory leak in controller - grows from ~140Mi to 8.8GB over 127 days",
        affected="v0.10.0 to v1.9.x", fixed_in="v1.10.0-rc1", fix_pr=4745,
        fix_commit="b38491aec422eb444170a7edc1b921c3805b5e3c", finding="conversion-churn",
        signature=("argo-rollouts/utils/tolerantinformer.convertObject",),
        note="utils/tolerantinformer converts every listed object from unstructured on each call, so every "
             "metrics scrape and reconcile re-converts all AnalysisRuns/Rollouts (the fix converts once per change "
             "with SetTransform)",
    ),
    KnownIssue(
        4571, "Possible memory leak in controller - grows from ~140Mi to 8.8GB over 127 days",
        affected="every release up to master (2026-08-17)", fixed_in=None, fix_pr=None, fix_commit="",
        finding="metric-series-growth",
        signature=("controller_clientset_k8s_request_total", "label name", "kind=analysisruns"),
        note="controller_clientset_k8s_request_total keeps a series per AnalysisRun/Experiment name (unique per "
             "run), never deleted; a proposed fix (name=\"N/A\" for analysisruns and experiments) is not merged",
    ),
    KnownIssue(
        2552, "Reduce operator memory usage by using an informer with limited scope",
        affected="every release before v1.10.0-rc1", fixed_in="v1.10.0-rc1", fix_pr=4666,
        fix_commit="6df66eff0cc5afcf13856969bb957944ab6b3706", finding="informer-memory",
        signature=("type ReplicaSet",),
        note="the controller's ReplicaSet informer caches every ReplicaSet of the cluster, Deployments' too (the "
             "fix lists only ReplicaSets with the rollouts-pod-template-hash label)",
    ),
    KnownIssue(
        2095, "kubectl argo rollouts dashboard OOM kill",
        affected="the dashboard of v1.0.0 to v1.7.x", fixed_in="v1.8.0-rc1", fix_pr=3966,
        fix_commit="642d031747392ab420c36b56b3b6fde41b451d93", finding="informer-leak",
        signature=("kubectl-argo-rollouts/viewcontroller.",),
        note="every GetRolloutInfo request of the dashboard started a view controller's informers with a context "
             "that was never cancelled",
    ),
)  # fmt: skip

_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)(?:-rc(\d+))?")


def parse_version(text: str) -> tuple[int, int, int, int] | None:
    """``v1.10.0-rc1`` -> (1, 10, 0, 1); a release sorts after its release candidates (rc number 1000)."""
    found = _VERSION.search(text or "")
    if found is None:
        return None
    major, minor, patch, rc = found.groups()
    return int(major), int(minor), int(patch), int(rc) if rc else 1000


def version_label(text: str) -> str:
    found = _VERSION.search(text or "")
    return found.group(0) if found else ""


def controller_version(facts: Iterable[tuple[str, str]], metrics_versions: Iterable[str] = ()) -> str:
    """The controller's version: the ``version`` fact, the tag of the ``image`` fact (``…:v1.8.3``), else
    ``argo_rollouts_controller_info{version}``; "" when nothing says."""
    known = dict(facts)
    for key in ("version", "controller version"):
        if version_label(known.get(key, "")):
            return version_label(known[key])
    image = known.get("image", "")
    if ":" in image.rsplit("/", 1)[-1] and "@" not in image:
        tag = image.rsplit(":", 1)[-1]
        if version_label(tag):
            return version_label(tag)
    for version in metrics_versions:
        if version_label(version):
            return version_label(version)
    return ""


def issue_notes(finding_id: str, tokens: Iterable[str], version: str) -> list[str]:
    """The lines a finding carries for the known issues its evidence matches, given the controller's version."""
    tokens = tuple(tokens)
    running = parse_version(version)
    notes = []
    for issue in KNOWN_ISSUES:
        if issue.finding != finding_id or not all(any(part in token for token in tokens)
                                                 for part in issue.signature):
            continue
        ref = f"{REPO}#{issue.number}"
        fixed = parse_version(issue.fixed_in or "")
        you = f"you run {version}" if version else "the controller's version is unknown"
        if fixed is None:
            notes.append(f"matches {ref}, which no release fixes yet ({you}): {issue.note}")
        elif running is not None and running >= fixed:
            notes.append(f"looks like {ref}, but that is fixed in {issue.fixed_in} and you run {version}: "
                         f"something else is the cause")
        else:
            notes.append(f"matches {ref}, fixed in {issue.fixed_in} by #{issue.fix_pr} ({you}): {issue.note}")
    return notes
