"""Incident commands (bundle, goroutine-trend) and the hidden ``__complete`` command that kubectl's plugin
completion calls (through the ``kubectl_complete-rollouts_profile`` helper shipped with the plugin).
"""

from __future__ import annotations

import click

# Cobra's completion directives (kubectl reads the last line ":<n>").
_COBRA_DEFAULT = 0
_COBRA_NO_FILE = 4
_COBRA_FILTER_DIRS = 16


def cobra_completions(group: click.Group, words: list[str]) -> list[str]:
    """Answer a kubectl plugin completion request in Cobra's ``__complete`` format.

    ``words`` are what follows ``kubectl rollouts-profile``; the last one is the word being completed ("" for a new
    word). Returns the output lines: one candidate per line (``value<TAB>help``), then ``:<directive>``.
    """
    from click.shell_completion import ShellComplete

    args, incomplete = (words[:-1], words[-1]) if words else ([], "")
    completer = ShellComplete(group, {}, "kubectl rollouts-profile", "_KUBECTL_ROLLOUTS_PROFILE_COMPLETE")
    items = completer.get_completions(args, incomplete)
    lines = [f"{item.value}\t{item.help}" if item.help else str(item.value) for item in items
             if item.type == "plain"]
    kinds = {item.type for item in items}
    directive = _COBRA_DEFAULT if "file" in kinds else _COBRA_FILTER_DIRS if "dir" in kinds else _COBRA_NO_FILE
    return [*lines, f":{directive}"]


def register(group: click.Group) -> None:
    """Add this module's commands to the top-level group."""

    @group.command(
        "__complete",
        hidden=True,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    )
    @click.argument("words", nargs=-1, type=click.UNPROCESSED)
    def complete(words: tuple[str, ...]) -> None:
        for line in cobra_completions(group, list(words)):
            click.echo(line)
