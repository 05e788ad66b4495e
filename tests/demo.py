"""The demo behind scripts/demo.sh: start the real Go pprof target, capture cpu and heap with the plugin, stop.

Output files go to --output-dir; the plugin's own stdout (the written paths) is passed through.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from tests.clitools import PLUGIN, plugin_env
from tests.goproc import start_gotarget


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output-dir", type=Path, default=Path("out"))
    args = parser.parse_args()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    target = start_gotarget(layout="new", metrics=True)
    try:
        print(f"[demo] Go pprof target on {target.base_url}", file=sys.stderr)
        for command in (["cpu", "--seconds", "5"], ["heap"]):
            argv = [str(PLUGIN), *command, "--url", target.base_url, "--output-dir", str(args.output_dir)]
            print(f"[demo] $ kubectl rollouts-profile {' '.join(argv[1:])}", file=sys.stderr)
            result = subprocess.run(argv, env=plugin_env())
            if result.returncode != 0:
                return result.returncode
    finally:
        target.stop()
    print(f"[demo] files are in {args.output_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
