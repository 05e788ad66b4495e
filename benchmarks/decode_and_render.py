"""One measured step: decode a pprof file and render it (top, folded, speedscope or html) into a file, as the CLI does
(temp file in the output directory, fsync, rename). The file is left in OUTPUT_DIR for the caller to remove (removing
a big file is no part of what the CLI does); without OUTPUT_DIR, a temporary directory is used and removed.
Usage: python benchmarks/decode_and_render.py FILE FORMAT [OUTPUT_DIR]"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from functools import partial
from pathlib import Path

from kubectl_rollouts_profile.deliver import write_atomic_stream
from kubectl_rollouts_profile.export import get_renderer
from kubectl_rollouts_profile.pprof.decode import decode_profile

if __name__ == "__main__":
    path, fmt = Path(sys.argv[1]), sys.argv[2]
    profile = decode_profile(path.read_bytes())
    if fmt != "decode":
        renderer = get_renderer(fmt)
        with contextlib.ExitStack() as stack:
            directory = sys.argv[3] if len(sys.argv) > 3 else stack.enter_context(tempfile.TemporaryDirectory())
            target = Path(directory) / (path.name + renderer.extension)
            write_atomic_stream(target, partial(renderer.render_to, profile, title=path.name), force=False)
