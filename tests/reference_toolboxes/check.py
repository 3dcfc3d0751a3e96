"""relmask's compatibility presets against the stored iNNvestigate / Zennit maps, on this process's Keras backend.

``python -m tests.reference_toolboxes.check [--models a,b] [--json OUT]`` prints (and writes) {map key: error},
the error being ``max |relmask − reference| / max |reference|`` over the model's whole input batch; the tests
run it under ``KERAS_BACKEND=jax`` in a subprocess and call :func:`errors` in-process on TensorFlow.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from functools import cache, lru_cache

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from .generate import MAPS, build_keras, rel_error, weights_of

#: the tolerance of every comparison (relative to the reference map's largest value)
TOL = 1e-5

#: (case prefix, architecture) -> why relmask does not give that reference's map (documented in docs/relevance.md,
#: *LRP by the reference toolboxes' names*); these maps are stored but not compared
NOT_MATCHED = {
    ("innvestigate.", "cnn_bn"): "iNNvestigate does not fold BatchNormalization into the convolution before it: it "
                                 "applies a rule of its own to the BN layer, with sqrt(var² + ε) for sqrt(var + ε) "
                                 "(innvestigate/backend/graph.py, apply_mapping_to_fused_bn_layer)",
}


@lru_cache(maxsize=1)
def stored() -> tuple[dict, dict]:
    """(arrays of maps.npz, its metadata)."""
    with np.load(MAPS) as f:
        arrays = {k: f[k] for k in f.files}
    return arrays, json.loads(str(arrays.pop("meta")))


def architecture(model: str) -> str:
    return model.rsplit("_", 1)[0]


def why_not_matched(key: str, model: str) -> str | None:
    return next((why for (prefix, arch), why in NOT_MATCHED.items()
                 if key.startswith(prefix) and architecture(model) == arch), None)


def comparisons(models=None) -> list[tuple[str, str]]:
    """(case key, model) of every stored map relmask is expected to match (of ``models``; default: all)."""
    arrays, _ = stored()
    out = []
    for k in arrays:
        if k.startswith("map:"):
            key, model = k[4:].rsplit("/", 1)
            if why_not_matched(key, model) is None and (models is None or model in models):
                out.append((key, model))
    return sorted(out)


@cache
def model_of(name: str):
    import keras

    arrays, meta = stored()
    shape, layers, _ = meta["models"][name]
    return build_keras(keras, tuple(shape), layers, weights_of(arrays, name))


def relmask_map(key: str, model: str) -> np.ndarray:
    import relmask

    arrays, meta = stored()
    method, params = next((c[4], c[5]) for c in meta["cases"] if c[0] == key)
    return relmask.explain(model_of(model), arrays[f"x:{model}"], method, targets=arrays[f"t:{model}"],
                           progress=False, **params)


def error(key: str, model: str) -> float:
    arrays, _ = stored()
    return rel_error(relmask_map(key, model), arrays[f"map:{key}/{model}"])


def errors(pairs=None) -> dict[str, float]:
    """{``key/model``: error} for ``pairs`` (default: every comparison)."""
    return {f"{k}/{m}": error(k, m) for k, m in (pairs or comparisons())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.reference_toolboxes.check", description=__doc__.split("\n")[0])
    ap.add_argument("--models", help="comma-separated models to compare on (default: every stored model)")
    ap.add_argument("--json", help="also write {map key: error} here")
    args = ap.parse_args(argv)
    errs = errors(comparisons(args.models.split(",") if args.models else None))
    import keras

    for k, e in errs.items():
        print(f"{e:9.2e}  {'ok' if e <= TOL else 'FAIL'}  {k}")
    print(f"{keras.backend.backend()}: {sum(e <= TOL for e in errs.values())} of {len(errs)} within {TOL:g}")
    if args.json:
        from relmask.io import write_json

        write_json(args.json, errs)
    return 0 if all(e <= TOL for e in errs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
