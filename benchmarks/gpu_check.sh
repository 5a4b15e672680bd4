#!/bin/bash
# The GPU check, as one command for the device machine (an H100 or H200 with PyTorch but no Streamlit, and
# no network): the library's and the pages' tests with CUDA present, then the GPU training and generation
# figures that README's "On a GPU" reports. Prints figures; the tests' own pass/fail is the check.
#
# Here, once: the wheels the GPU image lacks, for its Python 3.12 (34 MB; .whl/ is ignored by git: add
# `/.whl/` to .git/info/exclude), then send them with the call (carry [".whl"]):
#   P="--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64"
#   for n in streamlit==1.67.0 altair jsonschema referencing rpds-py jsonschema-specifications pydeck starlette \
#            uvicorn python-multipart websockets itsdangerous watchdog plotly constriction bm25s; do
#     python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $P -d .whl $n; done
# There:
#   bash benchmarks/gpu_check.sh [SECONDS_FOR_THE_TESTS] [pytest selection...]
# The browser tests are left out there (no Playwright). Give the call a timeout_s of SECONDS_FOR_THE_TESTS + 300.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp}
nvidia-smi -L
python3 -c "import torch, streamlit; print('torch', torch.__version__, 'CUDA', torch.cuda.is_available(), 'streamlit', streamlit.__version__)"
SECONDS_FOR_TESTS=${1:-270}
shift || true
if [ $# -eq 0 ]; then set -- -m "not browser"; fi
# pytest-timeout (in the GPU image): a test over 120 s fails with its stack; after the session's time each
# worker stops once its test ends, and pytest prints its summary: which tests failed.
timeout $((SECONDS_FOR_TESTS + 60)) python3 -m pytest -q -n 15 --maxfail 20 -rfE --durations 10 --timeout 120 \
    --session-timeout $((SECONDS_FOR_TESTS - 120)) "$@" > $OUT/pytest.log 2>&1
grep -v DEBUG $OUT/pytest.log | tail -60
echo "== training (tiny preset, 45 s on the GPU)"
timeout 90 python3 -m llm_core.train --preset tiny --time 45 --device cuda 2>&1 | tail -2 | tee $OUT/train.log
echo "== bench"
timeout 120 python3 -m llm_core.bench --device cuda --only throughput generation 2>&1 | tail -12 | tee $OUT/bench.log
