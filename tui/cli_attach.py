"""``sgl-console attach``: placeholder, filled in below."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``attach`` to ``sgl-console``."""
