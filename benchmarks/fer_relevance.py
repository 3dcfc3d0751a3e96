"""Benchmark: Grad-CAM relevance of 30,000 48×48 faces must take ≤ 60 s on a 2-core CPU (issue 5).

    python benchmarks/fer_relevance.py [--n 30000] [--batch-size 256] [--model fer_small_cnn] [--budget 60]

Times ``relmask.explain(model, x, "gradcam")`` on synthetic faces for the FER trainer architecture (untrained
weights: the cost does not depend on their values) after one warm-up batch that pays for tracing. Prints a
JSON line and exits 1 when the budget is exceeded.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from relmask._env import apply_defaults

apply_defaults()  # relmask's TensorFlow environment defaults (relmask._env), before anything imports TensorFlow


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30000, help="number of faces")
    ap.add_argument("--batch-size", type=int, default=256, help="explain() batch size")
    ap.add_argument("--model", default="fer_small_cnn", help="registered architecture to explain")
    ap.add_argument("--method", default="gradcam", help="relevance method")
    ap.add_argument("--budget", type=float, default=60.0, help="seconds allowed for --n faces")
    args = ap.parse_args(argv)

    import relmask
    from relmask.pipeline.training import build_model

    x = relmask.get_domain("fer").load("synthetic", n=args.n, seed=0).x
    model = build_model(args.model, x.shape[1:], 7, seed=0)
    t0 = time.perf_counter()
    relmask.explain(model, x[: args.batch_size], args.method, batch_size=args.batch_size, progress=False)
    warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = relmask.explain(model, x, args.method, batch_size=args.batch_size, progress=False)
    seconds = time.perf_counter() - t0
    ok = r.shape == x.shape and bool(r.any()) and seconds <= args.budget
    print(json.dumps({"benchmark": "fer_relevance", "method": args.method, "model": args.model, "n": args.n,
                      "batch_size": args.batch_size, "seconds": round(seconds, 2), "warmup_s": round(warmup, 2),
                      "images_per_s": round(args.n / seconds, 1), "budget_s": args.budget,
                      "cpu_count": os.cpu_count(), "ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
