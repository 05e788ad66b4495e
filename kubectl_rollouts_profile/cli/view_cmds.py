"""``convert`` and ``diff``: turn saved pprof files (from this tool or any Go program) into the formats people
read. Tables go to stdout; pages and JSON are written atomically (0600) to files whose paths are printed."""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import BinaryIO

import click

from kubectl_rollouts_profile.analysis.rollup import GROUPINGS, check_grouping
from kubectl_rollouts_profile.deliver import profile_stem
from kubectl_rollouts_profile.environment import Environment
from kubectl_rollouts_profile.errors import ProfileError, UsageError
from kubectl_rollouts_profile.export import RENDERERS, get_renderer, require_samples
from kubectl_rollouts_profile.inputfiles import read_input
from kubectl_rollouts_profile.pprof.evidence import UNCHANGED_WARNING, unchanged
from kubectl_rollouts_profile.pprof.model import Profile

# Every renderer can convert; a diff only to those that can show negative values. The raw pprof (redacted) is
# not a renderer: it is the profile itself, re-encoded.
CONVERT_FORMATS = (*RENDERERS, "pprof")
DIFF_FORMATS = tuple(name for name, renderer in RENDERERS.items() if renderer.shows_negative)


def _load(path: Path) -> Profile:
    from kubectl_rollouts_profile.pprof.decode import DEFAULT_MAX_DECOMPRESSED, decode_profile

    return decode_profile(read_input(path, max_bytes=DEFAULT_MAX_DECOMPRESSED))


def _extension(fmt: str) -> str:
    return ".redacted.pb.gz" if fmt == "pprof" else get_renderer(fmt).extension


def _is_text(fmt: str) -> bool:
    return fmt != "pprof" and get_renderer(fmt).is_text


def _check_sample_index(profile: Profile, sample_index: str | None) -> None:
    """An unknown --sample-index is the user's to fix, found before anything is written."""
    if sample_index is None or not profile.sample_types:
        return
    try:
        profile.sample_index(sample_index)
    except ProfileError as error:
        raise UsageError(f"--sample-index: {error}", error.hint) from error


def _deliver(
    env: Environment, write: Callable[[BinaryIO], None], fmt: str, output: str | None, default_path: Path, force: bool
) -> None:
    """Text formats go to stdout unless -o names a file; the others to a file (``-o -`` forces stdout). ``write``
    puts the export into a binary stream, so a big one goes straight to its destination."""
    from kubectl_rollouts_profile.deliver import write_atomic_stream

    if output == "-" or (output is None and _is_text(fmt)):
        if fmt == "pprof" and env.stdout_isatty:
            raise UsageError("refusing to write a binary profile to a terminal", "redirect stdout or use -o FILE")
        stream = getattr(env.stdout, "buffer", None)
        if stream is not None:
            env.stdout.flush()
            write(stream)
            stream.flush()
        else:
            buffer = io.BytesIO()
            write(buffer)
            env.stdout.write(buffer.getvalue().decode("utf-8", errors="replace"))
            env.stdout.flush()
        return
    out_path = Path(output) if output is not None else default_path
    written = write_atomic_stream(out_path, write, force=force)
    env.result(str(written))


def _writer(
    profile: Profile, fmt: str, *, title: str, sample_index: str | None, nodes: int | None, by: str = "function"
) -> Callable[[BinaryIO], None]:
    """A function writing the export of ``profile`` into a binary stream."""
    if fmt == "top" and by != "function":
        from kubectl_rollouts_profile.analysis.rollup import render_table

        table = render_table(profile, by, title=title, sample_index=sample_index, nodes=nodes).encode()

        def write_table(out: BinaryIO) -> None:
            out.write(table)

        return write_table
    if fmt == "pprof":
        from kubectl_rollouts_profile.pprof.encode import encode_profile

        data = encode_profile(profile)

        def write_pprof(out: BinaryIO) -> None:
            out.write(data)

        return write_pprof
    return partial(get_renderer(fmt).render_to, profile, title=title, sample_index=sample_index, nodes=nodes)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(CONVERT_FORMATS), required=True,
              help="speedscope JSON, flame graph HTML, top table, folded stacks, or pprof (with --redact).")
@click.option("-o", "--output", help="Output file; '-' for stdout. Default: stdout for top/folded, else "
              "FILE's name with the format's extension, next to FILE.")
@click.option("--sample-index", help="Sample type to show (e.g. inuse_space, alloc_space, cpu).")
@click.option("--nodes", type=click.IntRange(min=1), help="Rows of the top table.")
@click.option("--by", type=click.Choice(GROUPINGS), default="function", show_default=True,
              help="Rows of the top table: functions, Go packages, or the controller's subsystems.")
@click.option("--title", help="Title of the page or profile (default: FILE's name).")
@click.option("--redact", is_flag=True, help="Strip label values, file paths (binaries, sources) and build IDs first.")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@click.pass_obj
def convert(env: Environment, file: Path, fmt: str, output: str | None, sample_index: str | None,
            nodes: int | None, by: str, title: str | None, redact: bool, force: bool) -> None:  # fmt: skip
    """Convert a saved pprof FILE (from this tool or any Go program) into another format.

    \b
    Examples:
      kubectl rollouts-profile convert heap.pb.gz --format top --nodes 20
      kubectl rollouts-profile convert cpu.pb.gz --format top --by subsystem
      kubectl rollouts-profile convert cpu.pb.gz --format html -o cpu.html
      kubectl rollouts-profile convert heap.pb.gz --format pprof --redact -o public.pb.gz
    """
    if fmt == "pprof" and not redact:
        raise UsageError("--format pprof only makes sense with --redact", "the input already is a pprof file")
    check_grouping(by, fmt)
    profile = _load(file)
    require_samples(profile)
    _check_sample_index(profile, sample_index)
    if redact:
        from kubectl_rollouts_profile.pprof.transform import redact as redact_profile

        profile = redact_profile(profile)
    stem = profile_stem(file)
    write = _writer(profile, fmt, title=title or stem, sample_index=sample_index, nodes=nodes, by=by)
    _deliver(env, write, fmt, output, file.parent / (stem + _extension(fmt)), force)


@click.command()
@click.argument("base", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(list(RENDERERS)), default=None,
              help="top (default without -o), html (default with -o): a differential flame graph.")
@click.option("-o", "--output", help="Output file; '-' for stdout.")
@click.option("--sample-index", help="Sample type to compare (e.g. inuse_space, goroutine).")
@click.option("--nodes", type=click.IntRange(min=1), default=None, help="Rows of the top table.")
@click.option("--by", type=click.Choice(GROUPINGS), default="function", show_default=True,
              help="Rows of the top table: functions, Go packages, or the controller's subsystems.")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@click.pass_obj
def diff(env: Environment, base: Path, new: Path, fmt: str | None, output: str | None, sample_index: str | None,
         nodes: int | None, by: str, force: bool) -> None:  # fmt: skip
    """Show what grew and what shrank from BASE to NEW (heap growth, goroutine leak).

    \b
    Examples:
      kubectl rollouts-profile diff heap-1.pb.gz heap-2.pb.gz --nodes 15
      kubectl rollouts-profile diff heap-1.pb.gz heap-2.pb.gz --by subsystem
      kubectl rollouts-profile diff goroutine-1.pb.gz goroutine-2.pb.gz -o leak.html
    """
    if fmt is None:
        fmt = "html" if output not in (None, "-") else "top"
    if fmt not in DIFF_FORMATS:
        raise UsageError(
            f"{fmt} cannot show a diff: it cannot show negative values",
            "use --format html for a differential flame graph, or one of: " + ", ".join(DIFF_FORMATS),
        )
    check_grouping(by, fmt)
    from kubectl_rollouts_profile.pprof.transform import diff as diff_profiles

    base_profile, new_profile = _load(base), _load(new)
    base_types = [value_type.type for value_type in base_profile.sample_types]
    new_types = [value_type.type for value_type in new_profile.sample_types]
    if base_types != new_types:
        raise UsageError(
            f"the two profiles have different sample types: {base_types} vs {new_types}",
            "diff two profiles of the same kind (heap with heap, goroutine with goroutine)",
        )
    difference = diff_profiles(base_profile, new_profile)
    _check_sample_index(difference, sample_index)
    if unchanged(difference):
        env.message(f"warning: {UNCHANGED_WARNING}")
    title = f"{profile_stem(new)} minus {profile_stem(base)}"
    write = _writer(difference, fmt, title=title, sample_index=sample_index, nodes=nodes, by=by)
    _deliver(env, write, fmt, output, new.parent / (profile_stem(new) + ".diff" + _extension(fmt)), force)


def register(group: click.Group) -> None:
    """Add this module's commands to the top-level group."""
    group.add_command(convert)
    group.add_command(diff)
