"""Handing memory back to the system after big frames (see `MockServer._hand_back_memory`)."""

from __future__ import annotations

import ctypes
import functools
import platform
from typing import Any

__all__ = ["trim_malloc_heap"]


def trim_malloc_heap() -> None:
    """glibc's `malloc_trim(0)`: the free memory at the top and inside malloc's heaps goes back to
    the system. Nothing elsewhere (musl, macOS: their allocators return big blocks themselves)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
