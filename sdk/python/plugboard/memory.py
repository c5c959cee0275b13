"""Process-wide memory tuning for a plugin under the host's address-space limit.

Owns: :func:`cap_malloc_arenas`. The host applies the manifest's ``limits.memory_mb`` (default
1024) as an address-space limit (``RLIMIT_AS``). glibc gives each thread that allocates its own
malloc arena and reserves up to 64 MiB of address space for each, so about 20 worker threads
exhaust 1 GiB and the next one fails with "can't start new thread". Python gains nothing from
many arenas (the GIL serialises allocation anyway), so the SDK caps them at two, unless the
plugin's environment sets ``MALLOC_ARENA_MAX`` itself (``[env]`` in ``plugin.toml``).

Must not touch: anything on systems without glibc's ``mallopt`` (macOS, musl): there it does
nothing.
"""

import os
import sys

_M_ARENA_MAX = -8  # from glibc's malloc.h
_ARENAS = 2


def cap_malloc_arenas() -> bool:
    """Caps glibc's malloc arenas; true when it did. Call before starting threads."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, ImportError):
        return False  # Not glibc: its allocator has no arenas to cap.
    return bool(mallopt(_M_ARENA_MAX, _ARENAS))
