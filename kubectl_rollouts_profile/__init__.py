"""kubectl-rollouts-profile: capture Go pprof profiles from the Argo Rollouts controller."""

__version__ = "0.1.0"
