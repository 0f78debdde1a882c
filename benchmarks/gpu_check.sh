#!/usr/bin/env bash
# The GPU checks, as one script for a lent GPU machine (run from the repository root):
#   1. the CUDA tests (tests/core/test_cuda.py: cuDNN training forward == rollout one-step path,
#      CPU == GPU, training on the GPU with refresh/curiosity/Box, a GPU-trained run evaluated on the CPU);
#   2. the speed comparison with --device cuda (sb3-contrib and rnnppo, each on the CPU and the GPU);
#   3. a larger configuration (64 envs, 256 cells) where a GPU has more work per call, CPU vs GPU.
# Where the machine has no PyPI access, the missing packages travel as wheels in .whl/ (see the
# device notes in README's benchmarks section). Logs go to $OUT when set, else to ./gpu-check-logs.
set -u -o pipefail
OUT=${OUT:-gpu-check-logs}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || exit 1
    export PYTHONPATH="/tmp/site:$PWD"
else
    export PYTHONPATH="$PWD"
fi
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0))"

echo "== 1. CUDA tests"
python3 -m pytest -p no:cacheprovider tests/core/test_cuda.py -rs 2>&1 | tee "$OUT/tests.log"
tests_rc=$?

echo "== 2. speed comparison, StatelessCartPole, CPU and GPU"
python3 benchmarks/speed.py --part compare --device cuda --envs StatelessCartPole --steps "${GPU_STEPS:-16384}" \
    --repeats "${GPU_REPEATS:-2}" 2>&1 | tee "$OUT/speed.log"

echo "== 3. a larger configuration: num_envs=64 lstm_cell_size=256 fcnet_hiddens=[256], 40,960 steps"
for device in cpu cuda; do
    printf '%s ' "$device"
    python3 benchmarks/speed.py --child rnnppo --device "$device" --steps 40960 \
        num_envs=64 lstm_cell_size=256 'fcnet_hiddens=[256]' minibatch_size=2048 2>&1 | tail -1
done | tee "$OUT/large.log"
exit $tests_rc
