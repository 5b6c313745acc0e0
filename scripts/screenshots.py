"""Regenerate ``screenshots/*.svg``: every settings pane, live view and screen, at 80x24.

Usage: ``python scripts/screenshots.py [--out screenshots] [--size 80x24] [SCENE ...]``

Content is deterministic (``tests.demo``: fixed lines, times, pids; every path under the
neutral ``/tmp/sgl-demo``), no secret is shown, and previews are forced to half-blocks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from tests.demo import SCENES, scene_app, stage  # noqa: E402


async def shoot(scene: str, out: str, size: tuple[int, int]) -> str:
    app = scene_app(scene)
    async with app.run_test(size=size) as pilot:
        await stage(pilot, scene)
        return app.save_screenshot(filename=f"{scene}.svg", path=out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "screenshots"))
    ap.add_argument("--size", default="80x24")
    ap.add_argument("scenes", nargs="*", help=f"default: all of {', '.join(SCENES)}")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    os.makedirs(args.out, exist_ok=True)
    for scene in args.scenes or list(SCENES):
        path = asyncio.run(shoot(scene, args.out, (width, height)))
        print(f"{os.path.relpath(path)}  {SCENES[scene]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
