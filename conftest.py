"""Loaded by pytest before anything imports torch: OpenMP settings that must precede torch's import.

Why: libgomp reads OMP_WAIT_POLICY once, when torch loads it. With the default policy, a thread of
a two-thread team that waits for the other spins on the CPU; on the 2-core machine, shared with
other work, the thread it waits for is often the one it keeps off the CPU. Measured there (load
average 9-10): 60 steps of a nano model took 113-134 s on two threads, 12 s on two threads with
OMP_WAIT_POLICY=PASSIVE, and 9-15 s on one thread. Servers, worker jobs and DDP ranks started by the
tests inherit the setting. (tests/conftest.py also runs the tests' own work on one thread.)
"""

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
if "torch" in sys.modules:  # too late for libgomp to see it: say so rather than run slow for no reason
    raise RuntimeError("conftest.py must run before torch is imported (OMP_WAIT_POLICY is read at import)")
