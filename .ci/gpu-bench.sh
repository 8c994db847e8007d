#!/usr/bin/env bash
# The prepared device check: run it on the device machine from the project root, as one `run` call with
# timeout_s 560 (it stops itself well inside that). It uses the machine's own torch, sympy, scipy, sklearn and
# pandas: nothing is installed, and the package is imported from the checkout (python3 -m lazyrich).
# What it writes under $OUT comes back: gpu.txt and one bench-NAME.json / .err per benchmark.
# Usage: bash .ci/gpu-bench.sh [NAME ...]   (a copy of ../shared/tools/gpu-bench.sh: ../shared does not travel to the device)   (default: ntk simulate integrator)
set -u
OUT=${OUT:-$(mktemp -d)}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" >> "$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"
names=${*:-ntk simulate integrator}
budget=$(( 500 / $(echo $names | wc -w) ))
for b in $names; do
  start=$(date +%s)
  timeout $budget python3 -m lazyrich bench "$b" --device cuda --json > "$OUT/bench-$b.json" 2> "$OUT/bench-$b.err"
  rc=$?
  echo "bench $b: rc=$rc in $(( $(date +%s) - start )) s (limit $budget s); ratio $(python3 -c "import json,sys; print(json.load(open(sys.argv[1])).get('ratio'))" "$OUT/bench-$b.json" 2>/dev/null)"
done
