"""Regenerate ``tests/data/sglang-<version>-variables.json`` from an installed or unpacked sglang.

Usage: ``python scripts/extract_sglang_variables.py PACKAGE_DIR [OUT]`` where PACKAGE_DIR is the
``sglang`` directory (``pip download --no-deps sglang==X.Y.Z`` then ``unzip`` the wheel, or a
``site-packages/sglang``).  Run it on a newer release and diff the JSON to see what changed.
The output is the extractor's data (names, types, defaults, help), not upstream source.
"""

from __future__ import annotations

import sys
from pathlib import Path

from backend.envs.upstream import extract


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    release = extract(Path(argv[0]))
    default = Path(__file__).resolve().parents[1] / "tests" / "data" / f"sglang-{release.version}-variables.json"
    out = Path(argv[1]) if len(argv) > 1 else default
    out.write_text(release.to_json() + "\n", encoding="utf-8")
    print(f"sglang {release.version}: {len(release.variables)} variables -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
