"""Entry script that PyInstaller freezes into the plugin executable of the krew archive."""

from kubectl_rollouts_profile.cli import run

run()
