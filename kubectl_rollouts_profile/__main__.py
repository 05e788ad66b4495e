"""``python -m kubectl_rollouts_profile`` runs the CLI."""

from kubectl_rollouts_profile.cli import run

run()
