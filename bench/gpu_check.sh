#!/usr/bin/env bash
# Everything issue 13 needs a GPU for, in one call (GPU time comes in short lends):
#   the GPU tests, both step benches, and the two wall-time goals of 100 epochs (MNIST VAE; CelebA-layout faces).
#   bash bench/gpu_check.sh [MNIST_DATA_DIR]     (logs in $OUT, or /tmp/gpu_check)
# MNIST_DATA_DIR holds MNIST/raw/ (default data). CelebA is replaced by 50,000 + 19,962 synthetic faces
# (bench/fake_celeba.py): the timing depends on the image count and size, not on what the faces look like.
set -u
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
DATA=${1:-data}
LOG=${OUT:-/tmp/gpu_check}
WORK=$(mktemp -d)
mkdir -p "$LOG"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$PY -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"

echo "== GPU tests"
timeout 300 $PY -m pytest -q -p no:cacheprovider -m "slow or not slow" tests/test_captured_step.py \
  "tests/test_celeba.py::test_a_celeba_run_on_the_gpu_resumes_to_the_same_weights" 2>&1 | tee "$LOG/tests.log" | tail -15

echo "== MNIST VAE, default flags, 100 epochs"
t0=$(date +%s.%N)
timeout 300 $PY -m train --autoencoder_type vae --data_dir "$DATA" \
  --out_dir "$WORK/results" --weights_dir "$WORK/mnist-vae" >"$LOG/mnist.log" 2>"$LOG/mnist.err"
echo "command wall $($PY -c "print(round($(date +%s.%N) - $t0, 1))") s (python start, data loading and all)"
tail -3 "$LOG/mnist.log"; tail -1 "$LOG/mnist.err"
grep -E "^epoch +(0|1|50|99) " "$LOG/mnist.log"

echo "== bench/train_speed.py"
timeout 120 $PY bench/train_speed.py --data_dir "$DATA" --repeats 2 2>&1 | tail -8

echo "== bench/celeba_speed.py"
timeout 180 $PY bench/celeba_speed.py 2>&1 | tail -15

echo "== CelebA layout, 50,000 training faces, 100 epochs"
timeout 120 $PY bench/fake_celeba.py "$WORK/faces" --workers 16 | tail -1
timeout 120 $PY -c "import sys; from train.celeba import load_celeba; t, s = load_celeba(sys.argv[1], 50000, 8675309, 16, True); print('cache', tuple(t.shape), tuple(s.shape))" "$WORK/faces"
t0=$(date +%s.%N)
timeout 400 $PY -m train celeba --data_dir "$WORK/faces" \
  --out_dir "$WORK/results" --weights_dir "$WORK/celeba-vae" >"$LOG/celeba.log" 2>"$LOG/celeba.err"
echo "command wall $($PY -c "print(round($(date +%s.%N) - $t0, 1))") s (python start, cache mapping and all)"
tail -3 "$LOG/celeba.log"; tail -1 "$LOG/celeba.err"
grep -E "^epoch +(0|1|50|99) " "$LOG/celeba.log"
ls "$WORK/results"/CelebA*/ | head -3; ls "$WORK/results"/CelebA*/ | wc -l
