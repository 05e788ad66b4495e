"""Write the krew manifest from the template ``.krew.yaml``: every platform's uri and the sha256 of its archive.

    python krew/manifest.py --tag v0.1.0 --dist DIR [-o plugin.yaml]

The template is krew-release-bot's (Go template) format, of which it reads exactly two forms: ``{{ .TagName }}``
and ``{{addURIAndSha "URL" .TagName }}`` (URL may hold ``{{ .TagName }}``), which becomes ``uri: URL`` and the
``sha256`` of the archive of that name in DIR. A platform whose archive is not in DIR is an error: the manifest
always lists every platform the template does.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / ".krew.yaml"
_TAG = re.compile(r"\{\{\s*\.TagName\s*\}\}")
_URI_AND_SHA = re.compile(r'^(?P<indent>[ \t]*)\{\{\s*addURIAndSha\s+"(?P<uri>[^"]+)"\s+\.TagName\s*\}\}[ \t]*$',
                          re.MULTILINE)
_LEFT_OVER = re.compile(r"\{\{.*?\}\}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def render(template: str, tag: str, dist: Path) -> str:
    """The manifest for release ``tag`` with the archives in ``dist``; SystemExit naming a missing archive."""
    if not re.fullmatch(r"v\d+\.\d+\.\d+", tag):
        raise SystemExit(f"manifest: the tag {tag!r} is not vMAJOR.MINOR.PATCH, as krew needs")

    def uri_and_sha(match: re.Match[str]) -> str:
        uri = _TAG.sub(tag, match["uri"])
        archive = dist / uri.rsplit("/", 1)[-1]
        if not archive.is_file():
            raise SystemExit(f"manifest: {archive} is missing (every platform of the template needs its archive)")
        return f"{match['indent']}uri: {uri}\n{match['indent']}sha256: {sha256_of(archive)}"

    rendered = _TAG.sub(tag, _URI_AND_SHA.sub(uri_and_sha, template))
    left_over = _LEFT_OVER.search(rendered)
    if left_over:
        raise SystemExit(f"manifest: the template holds {left_over.group()!r}, which this renderer does not know")
    # The comment lines above the manifest describe the template, not the manifest.
    return "".join(line for line in rendered.splitlines(keepends=True) if not line.startswith("#")).lstrip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", required=True, help="the release tag, e.g. v0.1.0")
    parser.add_argument("--dist", type=Path, required=True, help="folder holding every platform's archive")
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument("-o", "--output", type=Path, help="write here (default: stdout)")
    args = parser.parse_args(argv)
    manifest = render(args.template.read_text(), args.tag, args.dist)
    if args.output is None:
        sys.stdout.write(manifest)
    else:
        args.output.write_text(manifest)
        print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
