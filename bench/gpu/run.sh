#!/bin/bash
# On the GPU machine (the device tool), from the repository root, with .device carried
# (bench/gpu/pack.ts makes it), in one run on one GPU:
#  1. our Stage I training step on the webgpu backend as tfjs ships it (its conv gradients,
#     per-variable Adam, batch norm from tf ops: "tfjs") and as we run it (our filter and input
#     gradients, flat Adam, batch-norm kernels: "t2i"),
#     with kernel breakdowns, then PyTorch's step of the same network (bench/torch_stage1.py), and the ratios;
#  2. if .device/data.tar.xz came too: Stage I's full config trained on the 7,034 training images
#     for the minutes given, its grids, metrics and generator brought back (split into 15 MiB parts:
#     cat results.tar.part-* | tar -x).
#   bash bench/gpu/run.sh [full|ngf64] [batch] [train-minutes]     (default: full 64 4, leaving the rest about 5 of a 10-minute device call)
# Everything printed also goes to $OUT/log.txt, the ratios to $OUT/ratio.txt (at most 8 files come back).
set -uo pipefail
variant=${1:-full}
batch=${2:-64}
minutes=${3:-4}
case "$variant" in
  full) widths=(--ngf 128 --ndf 64) ;;
  ngf64) widths=(--ngf 64 --ndf 32) ;;
  *) echo "run.sh: variant '$variant' has no PyTorch twin (full or ngf64)" >&2; exit 2 ;;
esac
out=${OUT:-/tmp/t2i-out}
work=/tmp/t2i-run
mkdir -p "$out" "$work"
repo=$(pwd)
exec > >(tee -a "$out/log.txt") 2>&1

tar -xJf .device/kit.tar.xz -C /tmp || exit 1
# The GPU machine has the NVIDIA Vulkan driver but no loader.
ldconfig -p | grep -q 'libvulkan.so.1 ' || { dpkg -x /tmp/kit/libvulkan1_*.deb /; ldconfig; }
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

bench() { # name, then environment assignments
  local name=$1; shift
  (cd /tmp/kit/bench && env "$@" /tmp/kit/node stage1.mjs --backend webgpu --variants "$variant" --batch "$batch" --profile) 2>&1 | grep -v '░' | tee "$work/bench-$name.txt"
}
bench tfjs T2I_WEBGPU_STOCK=all T2I_ADAM=per-variable
bench t2i T2I_WEBGPU_STOCK= T2I_ADAM=flat
# The one change whose gain only a GPU can tell: the input gradient as a forward conv.
bench t2i-stock-input-grad T2I_WEBGPU_STOCK=input-grad T2I_ADAM=flat
PYTHONUNBUFFERED=1 ${PYTHON:-python3} "$repo/bench/torch_stage1.py" "${widths[@]}" --batch "$batch" 2>&1 | tee "$work/torch.txt"

theirs=$(sed -n 's/.*images\/s \([0-9.]*\).*/\1/p' "$work/torch.txt" | tail -1)
[ -n "$theirs" ] || echo "run.sh: PyTorch printed no images/s (see above); no ratios" | tee "$out/ratio.txt"
[ -n "$theirs" ] && for name in tfjs t2i t2i-stock-input-grad; do
  ours=$(awk -F'|' -v v="$variant" '$1 == v" " { gsub(/ /, "", $6); print $6 }' "$work/bench-$name.txt")
  awk -v a="$ours" -v b="$theirs" -v v="$variant" -v n="$batch" -v g="$name" 'BEGIN { printf "stage1 %s, batch %s: webgpu (%s) %s images/s, PyTorch %s images/s, ratio %.3f\n", v, n, g, a, b, a / b }'
done | tee "$out/ratio.txt"

if [ -f .device/data.tar.xz ] && [ "$minutes" != 0 ]; then
  tar -xJf .device/data.tar.xz -C /tmp || exit 1
  # The trainer stops itself within its minutes; timeout is for a hang.
  (cd /tmp/kit/bench && timeout $((minutes * 60 + 120)) /tmp/kit/node train.mjs --data /tmp/data --out /tmp/stage1 --minutes "$minutes" --batch-size "$batch") 2>&1 | grep -v '░'
  # Checkpoints (weights and both optimizers, 200 MB at full width) stay behind; the generator comes back.
  tar -cf - -C /tmp/stage1 --exclude=checkpoints . | split -b 15M - "$out/results.tar.part-"
  ls -la "$out"
fi
