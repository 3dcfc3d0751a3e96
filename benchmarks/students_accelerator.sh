#!/usr/bin/env bash
# Grouped training on an accelerator under KERAS_BACKEND=jax (issue 22's GPU targets: grouped >= 15x faster than
# one by one on the same GPU). Needs JAX and the project's packages, no TensorFlow.
#
#   bash benchmarks/students_accelerator.sh OUT          # on the accelerator machine
#
# Writes OUT/students_<grid>.jsonl and .txt: the FER real grid (10 variants x 5 seeds) and the whale grid
# (11 members x 5 seeds) at the real data's sizes (FER: 14,000 training faces; whale: 2,100 spectrograms),
# grouped in automatic chunks and in chunks of 10, against one by one. N=, EPOCHS=, SEEDS=, CHUNKS= shorten it.
# The full presets on the real development data are then: relmask reproduce --config real --data-dir DIR
# (KERAS_BACKEND=jax), which this script does not run (the data do not travel with the repository).
set -u
OUT=${1:?output folder}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
"$PY" -c "import jax, keras; print('jax', jax.__version__, jax.devices(), '| keras', keras.__version__)" || exit 1
for grid in fer whale; do
    n=${N:-$([ $grid = fer ] && echo 14000 || echo 2100)}
    "$PY" benchmarks/students.py --grid $grid --n "$n" --epochs "${EPOCHS:-2}" --seeds "${SEEDS:-5}" \
        --chunk-sizes "${CHUNKS:-auto,10}" --out "$OUT/students_$grid.jsonl" 2>&1 | tee "$OUT/students_$grid.txt"
done
