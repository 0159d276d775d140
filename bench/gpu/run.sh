#!/bin/bash
# On the GPU machine (the device tool), from the repository root, with .device carried
# (bench/gpu/pack.ts makes it), in one run on one GPU:
#  1. our Stage I training step on the webgpu backend as tfjs ships it (its conv gradients,
#     per-variable Adam, batch norm from tf ops: "tfjs"), as we run it (our filter and input
#     gradients, flat Adam, batch-norm kernels, packed uniforms: "t2i"), with our matrix product
#     and forward conv ("t2i-gemm", off by default until a GPU says it wins), and with tfjs's
#     input gradient ("t2i-stock-input-grad"), each with kernel breakdowns; then PyTorch's step of
#     the same network (bench/torch_stage1.py), and the ratios;
#  2. if .device/data.tar.xz came too: Stage I's full config trained on the 7,034 training images
#     with the fastest of the t2i variants, for the minutes given or what is left of the call
#     (T2I_CALL_SECONDS, default 560, counted from this script's start), its grids, metrics and
#     generator brought back (split into 15 MiB parts: cat results.tar.part-* | tar -x).
#   bash bench/gpu/run.sh [full|ngf64] [batch] [train-minutes]     (default: full 64 4)
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
# name, then the environment it runs with
variants=(
  "tfjs T2I_WEBGPU_STOCK=all T2I_ADAM=per-variable"
  "t2i T2I_WEBGPU_STOCK=gemm T2I_ADAM=flat"
  "t2i-gemm T2I_WEBGPU_STOCK= T2I_ADAM=flat"
  "t2i-stock-input-grad T2I_WEBGPU_STOCK=gemm,input-grad T2I_ADAM=flat"
)
for v in "${variants[@]}"; do bench $v; done
PYTHONUNBUFFERED=1 ${PYTHON:-python3} "$repo/bench/torch_stage1.py" "${widths[@]}" --batch "$batch" 2>&1 | tee "$work/torch.txt"

# A variant's column of the bench's table: 5 is ms/step, 6 images/s.
column() { awk -F'|' -v v="$variant" -v c="$2" '$1 == v" " { gsub(/ /, "", $c); print $c }' "$work/bench-$1.txt"; }
rate() { column "$1" 6; }
theirs=$(sed -n 's/.*images\/s \([0-9.]*\).*/\1/p' "$work/torch.txt" | tail -1)
[ -n "$theirs" ] || echo "run.sh: PyTorch printed no images/s (see above); no ratios" | tee "$out/ratio.txt"
[ -n "$theirs" ] && for v in "${variants[@]}"; do
  name=${v%% *}
  awk -v a="$(rate "$name")" -v b="$theirs" -v v="$variant" -v n="$batch" -v g="$name" 'BEGIN { printf "stage1 %s, batch %s: webgpu (%s) %s images/s, PyTorch %s images/s, ratio %.3f\n", v, n, g, a, b, a / b }'
done | tee "$out/ratio.txt"

# Train with the fastest of ours (by ms/step: images/s is rounded).
best=""; best_ms=""
for v in "${variants[@]:1}"; do
  ms=$(column "${v%% *}" 5)
  [ -n "$ms" ] && { [ -z "$best_ms" ] || awk -v a="$ms" -v b="$best_ms" 'BEGIN { exit !(a < b) }'; } && { best=$v; best_ms=$ms; }
done
left=$(awk -v budget="${T2I_CALL_SECONDS:-560}" -v used="$SECONDS" -v asked="$minutes" 'BEGIN { m = (budget - used - 75) / 60; if (m > asked) m = asked; printf "%.2f", m }')
if [ -f .device/data.tar.xz ] && [ -n "$best" ] && awk -v m="$left" 'BEGIN { exit !(m >= 0.5) }'; then
  echo "run.sh: training with ${best%% *} (${best_ms} ms a step in the bench) for ${left} minutes"
  tar -xJf .device/data.tar.xz -C /tmp || exit 1
  # The trainer stops itself within its minutes; timeout is for a hang.
  (cd /tmp/kit/bench && env ${best#* } timeout "$(awk -v m="$left" 'BEGIN { printf "%d", m * 60 + 60 }')" /tmp/kit/node train.mjs --data /tmp/data --out /tmp/stage1 --minutes "$left" --batch-size "$batch") 2>&1 | grep -v '░'
  # Checkpoints (weights and both optimizers, 200 MB at full width) stay behind; the generator comes back.
  tar -cf - -C /tmp/stage1 --exclude=checkpoints . | split -b 15M - "$out/results.tar.part-"
  ls -la "$out"
else
  echo "run.sh: no training (data: $([ -f .device/data.tar.xz ] && echo yes || echo no), fastest: ${best%% *}, minutes left: $left)"
fi
