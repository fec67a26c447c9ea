"""A fast synthetic client of get_your_info for the benchmarks: connects to $RTMOCK_URL (or argv[1]),
plays the scenario and exits 0. With --forget-create it never sends the last response.create (the
bug rtmock exists to catch) and waits until it is stopped."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import play_get_your_info


async def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    url = args[0] if args else os.environ["RTMOCK_URL"]
    async with aiohttp.ClientSession() as http:
        await play_get_your_info(http, url, forget_create="--forget-create" in sys.argv)


if __name__ == "__main__":
    asyncio.run(main())
