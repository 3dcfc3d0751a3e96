#!/usr/bin/env bash
# The relevance engine on an accelerator under KERAS_BACKEND=jax: conformance kit (with the agreement against
# reference maps written elsewhere, e.g. by TensorFlow on a CPU) and the speed benchmark.
#
#   relmask check --write-reference REF                # where TensorFlow is: model, input, maps
#   bash benchmarks/jax_accelerator.sh REF OUT         # on the accelerator machine (JAX, no TensorFlow needed)
#
# Writes OUT/conformance_{highest,default}.{txt,json} and OUT/benchmark_*.{txt,json}. The kit runs twice,
# concurrently (it times nothing): at explain()'s default precision="highest" (float32 products) and at
# precision="default" (the backend's choice: TensorFloat-32 on NVIDIA GPUs since Ampere). The benchmarks run
# after it, one process at a time: every method at n=256, then a subset at n=4096 at both precisions
# (SKIP_N256=1 or N256_METHODS=rows, SUBSET=rows, KIT_PRECISIONS="highest", PRECISIONS="highest" and
# MIN_SECONDS=s shorten it).
set -u
REF=${1:?reference folder}; OUT=${2:?output folder}
PY=${PYTHON:-python3}
SUBSET=${SUBSET:-"gradient,gradcam,lrp.epsilon,lrp.z_plus,lrp.alpha_beta,lrp.epsilon_plus_flat,occlusion (window=stride=8)"}
mkdir -p "$OUT"
export KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
"$PY" -c "import jax, keras; print('jax', jax.__version__, jax.devices(), '| keras', keras.__version__)" || exit 1

for p in ${KIT_PRECISIONS:-highest default}; do
    "$PY" -m relmask check --precision $p --reference "$REF" --json "$OUT/conformance_$p.json" \
        >"$OUT/conformance_$p.txt" 2>&1 &
done
wait
cat "$OUT"/conformance_*.txt

[ "${SKIP_N256:-0}" = 1 ] || "$PY" benchmarks/relevance.py --backend jax --min-seconds "${MIN_SECONDS:-2}" \
    ${N256_METHODS:+--methods "$N256_METHODS"} --json "$OUT/benchmark_n256.json" 2>&1 | tee "$OUT/benchmark_n256.txt"
for p in ${PRECISIONS:-highest default}; do
    "$PY" benchmarks/relevance.py --backend jax --n 4096 --repeats 3 --min-seconds "${MIN_SECONDS:-2}" \
        --precision $p --methods "$SUBSET" --json "$OUT/benchmark_n4096_$p.json" 2>&1 | tee "$OUT/benchmark_n4096_$p.txt"
done
