#!/usr/bin/env bash
# The speed figures a learner feels, one after the other, each with the load average beside it:
# generation, training against nanoGPT's CPU recipe, the fast loop, start-up, each chapter's cost.
# Meant for a quiet machine (the figures move by 2-10x with other load). The load test is separate
# (benchmarks/load_test.py, 5 minutes, 8 browser sessions).
#
#     bash benchmarks/speed_all.sh /tmp/speed-nanogpt      # nanoGPT's files, fetched and never committed
#
# nanoGPT: git --git-dir=<a clone of github.com/karpathy/nanoGPT>/.git archive HEAD | tar -x -C /tmp/speed-nanogpt
set -uo pipefail
cd "$(dirname "$0")/.."
NANOGPT=${1:-/tmp/speed-nanogpt}
export PYTHONPATH=.
say() { echo; echo "== $* ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))"; }

say "1. generation: python -m llm_core.bench --only generation"
python -m llm_core.bench --only generation

say "2. training: benchmarks/vs_nanogpt.py --rounds 2"
python benchmarks/vs_nanogpt.py --nanogpt "$NANOGPT" --rounds 2

say "3. the fast loop: python -m pytest -q -m 'not browser and not slow' -n 2 --durations=10"
start=$(date +%s)
python -m pytest -q -m "not browser and not slow" -n 2 --durations=10 2>&1 | tail -16
echo "fast loop wall time: $(( $(date +%s) - start )) s"

say "4. start-up: benchmarks/app_startup.py --runs 5"
python benchmarks/app_startup.py --runs 5

say "5. each chapter's first visit and next session: benchmarks/chapter_costs.py"
python benchmarks/chapter_costs.py 2>&1 | grep -v -e WARNING -e ScriptRunContext -e "No runtime"

say "done"
