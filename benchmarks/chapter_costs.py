"""What each chapter's first visit costs the server, and what every later session pays again.

    PYTHONPATH=. python benchmarks/chapter_costs.py [--chapters overview attention ...]

For each chapter of the course, in one process (Streamlit's AppTest, no browser): every
`st.cache_data` / `st.cache_resource` is cleared, then one session opens the app and goes to the
chapter (its *first visit on a fresh server*: imports aside, everything the chapter computes; the
Overview, which every session opens first and which loads the bundled model, is not counted in
the other chapters), then a second session does the same (what *each further session* pays: the
work that is not shared through a cache). Printed
per chapter: wall and CPU seconds of both visits (CPU time counts every thread of the process, so
it says how much of the machine a visit takes, whatever else runs beside it), and the load
average. A chapter whose second visit still costs much is doing per-session work a class pays
once per learner: that is what to cache, or to compute once and ship in assets/.

Python and torch are imported once before the first chapter (the server has them after its
first page); the first chapter measured is the Overview, which the server's first page opens.
It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def visit(path: str, timeout: float) -> tuple[float, float, int]:
    """Open the app (its first page, the Overview, as a browser does), then time the chapter's run:
    wall and CPU seconds, and the exceptions shown. For the Overview, its own first run is timed."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    wall, cpu = time.perf_counter(), time.process_time()
    at.run()
    if path != "pages/overview.py":
        wall, cpu = time.perf_counter(), time.process_time()
        at.switch_page(path).run()
    return time.perf_counter() - wall, time.process_time() - cpu, len(at.exception)


def main() -> None:
    import streamlit as st
    import torch  # noqa: F401  (imported once, as a running server has it)

    from lab_ui import course

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", nargs="*", help="chapter keys (default: every chapter in course order)")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    chapters = [c for c in course.chapters() if course.existing(c) and (not args.chapters or c.key in args.chapters)]
    print(f"{'chapter':28s} {'first visit (fresh caches)':>28s} {'next session':>24s}   load average")
    for c in chapters:
        st.cache_data.clear()
        st.cache_resource.clear()
        first = visit(c.path, args.timeout)
        second = visit(c.path, args.timeout)
        errors = f"  EXCEPTIONS: {first[2]} / {second[2]}" if first[2] or second[2] else ""
        print(f"{c.title:28s} {first[0]:8.2f} s wall {first[1]:7.2f} s CPU {second[0]:7.2f} s wall {second[1]:6.2f} s CPU   "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}{errors}", flush=True)


if __name__ == "__main__":
    main()
