#!/usr/bin/env bash
# On-call runbook: collect an evidence bundle from the Argo Rollouts controller.
#
#   docs/runbook.sh [OUTPUT_DIR]
#
# Uses the current kubeconfig context (or KUBECONFIG, or the pod's ServiceAccount inside a Job).
# Environment: NAMESPACE (default argo-rollouts), CPU_SECONDS (default 30),
# ROLLOUTS_PROFILE (the plugin command, default "kubectl rollouts-profile").
set -u

plugin=${ROLLOUTS_PROFILE:-kubectl rollouts-profile}
namespace=${NAMESPACE:-argo-rollouts}
out=${1:-.}
mkdir -p "$out"

# 1. Can we profile at all? (RBAC incl. the capture lock, leader found, pprof enabled)
$plugin check -n "$namespace" --with-lock >&2
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "runbook: preflight failed (exit $rc); fix what it says above, e.g. apply: $plugin rbac --serviceaccount NS/NAME --with-lock" >&2
  exit "$rc"
fi

# 2. One bundle: profiles before/after a CPU capture, metrics, pod, events, Lease, versions.
archive=$($plugin bundle -n "$namespace" --seconds "${CPU_SECONDS:-30}" --output-dir "$out")
rc=$?
case "$rc" in
  0)  echo "runbook: complete bundle: $archive" >&2 ;;
  10) echo "runbook: PARTIAL bundle (some items failed, see manifest.json inside): $archive" >&2 ;;
  6)  echo "runbook: another capture holds the lock or the cooldown is running; retry later" >&2 ;;
  4)  echo "runbook: access denied; apply: $plugin rbac --serviceaccount NS/NAME --with-lock" >&2 ;;
  9)  echo "runbook: cannot write to $out (missing, not writable or full); nothing was captured" >&2 ;;
  143|129) echo "runbook: stopped by a signal; temp files removed and the capture lock released" >&2 ;;
  *)  echo "runbook: bundle failed (exit $rc)" >&2 ;;
esac
# 3. Where it went: attach this file to the incident.
[ -n "$archive" ] && echo "$archive"
exit "$rc"
