"""``sgl-backend``: the bundled generation backend (generate | serve)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sgl-backend", description="Bundled diffusion generation backend.")
    parser.add_subparsers(dest="command", metavar="{generate,serve}")
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
