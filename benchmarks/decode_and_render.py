"""One measured step: decode a pprof file and render it (top, speedscope or html) to /dev/null.
Usage: python benchmarks/decode_and_render.py FILE FORMAT"""

from __future__ import annotations

import sys
from pathlib import Path

from kubectl_rollouts_profile.export import render
from kubectl_rollouts_profile.pprof.decode import decode_profile

if __name__ == "__main__":
    path, fmt = Path(sys.argv[1]), sys.argv[2]
    profile = decode_profile(path.read_bytes())
    output = b"" if fmt == "decode" else render(profile, fmt, title=path.name)
    Path("/dev/null").write_bytes(output)
