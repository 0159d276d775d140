#!/bin/bash
# On the GPU machine (the device tool), from the repository root, with .device/kit.tar.xz carried
# (bench/gpu/pack.ts makes it): our Stage I training step on the webgpu backend with tfjs's own
# conv filter gradient and with ours (split-K matmuls), then PyTorch's step of the same network
# (bench/torch_stage1.py), in one run on one GPU, and the ratios.
#   bash bench/gpu/run.sh [full|ngf64] [batch]     (default: full 64)
# Figures and kernel breakdowns also go to $OUT (webgpu-stock.txt, webgpu-split-k.txt, torch.txt, ratio.txt).
set -euo pipefail
variant=${1:-full}
batch=${2:-64}
case "$variant" in
  full) widths=(--ngf 128 --ndf 64) ;;
  ngf64) widths=(--ngf 64 --ndf 32) ;;
  *) echo "run.sh: variant '$variant' has no PyTorch twin (full or ngf64)" >&2; exit 2 ;;
esac
out=${OUT:-/tmp/t2i-out}
mkdir -p "$out"
repo=$(pwd)

tar -xJf .device/kit.tar.xz -C /tmp
# The GPU machine has the NVIDIA Vulkan driver but no loader.
ldconfig -p | grep -q 'libvulkan.so.1 ' || { dpkg -x /tmp/kit/libvulkan1_*.deb /; ldconfig; }
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}

for grad in stock split-k; do
  (cd /tmp/kit/bench && T2I_WEBGPU_FILTER_GRAD=$grad /tmp/kit/node stage1.mjs --backend webgpu --variants "$variant" --batch "$batch" --profile) 2>&1 | grep -v '░' | tee "$out/webgpu-$grad.txt"
done
PYTHONUNBUFFERED=1 ${PYTHON:-python3} "$repo/bench/torch_stage1.py" "${widths[@]}" --batch "$batch" 2>&1 | tee "$out/torch.txt"

theirs=$(sed -n 's/.*images\/s \([0-9.]*\).*/\1/p' "$out/torch.txt" | tail -1)
for grad in stock split-k; do
  ours=$(awk -F'|' -v v="$variant" '$1 == v" " { gsub(/ /, "", $6); print $6 }' "$out/webgpu-$grad.txt")
  awk -v a="$ours" -v b="$theirs" -v v="$variant" -v n="$batch" -v g="$grad" 'BEGIN { printf "stage1 %s, batch %s: webgpu (%s filter gradient) %s images/s, PyTorch %s images/s, ratio %.3f\n", v, n, g, a, b, a / b }'
done | tee "$out/ratio.txt"
