"""Benchmark: a grid of students trained as one group against the same members trained one by one (issue 22).

    python benchmarks/students.py [--grid fer|whale|both] [--n 2000] [--epochs 2] [--seeds 3] [--rounds 1]
                                  [--chunk-sizes auto,2,8] [--out FILE]

The grids are the real-data protocols' shapes on synthetic inputs of the same size (so no data are needed):
- ``fer``: 48×48 faces, ``fer_small_cnn`` students, variants raw, keep and soft with their three map controls
  each, and mask-only: 10 variants × ``--seeds`` seeds;
- ``whale``: 64×64 spectrograms, ``whale_cnn``, per seed CNN₁, the raw ensemble CNN, per masker (negative, mean)
  CNN₂ and three control CNN₂s, and the mask-only CNN: 11 members × ``--seeds`` seeds.
Each mode runs in a fresh subprocess (its own peak memory, nothing cached between them), the modes rotate
round by round, and every member's inputs differ (a masked variant has its own data).
- ``grouped:C``: :func:`relmask.pipeline.training.fit_group` over the whole grid in chunks of C members (``auto``: the
  default, :func:`relmask.pipeline.training.group_size_limit`);
- ``one_by_one``: :func:`relmask.pipeline.training.fit` per member (a group of one: the same data path and compiled
  step, one model at a time);
- ``previous`` (``--previous``, TensorFlow): the training path relmask had before grouping, ``model.fit`` on a
  shuffled tf.data pipeline with one compiled step per batch (:func:`previous_fit`), so the whole change is
  measured too. Its batch order differs, so its weights are not compared.
Prints one JSON line per mode and round, then per grid and grouped mode the median seconds, the ratio to
one-by-one (and to previous) and the peak resident memory; exits 1 when a member's weights differ between a
grouped mode and one-by-one by more than float rounding.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from relmask._env import apply_defaults

apply_defaults()  # relmask's TensorFlow environment defaults (relmask._env), before anything imports TensorFlow

GRIDS = {
    # name: (input shape, classes, model, members per seed)
    "fer": ((48, 48, 1), 7, "fer_small_cnn", 10),
    "whale": ((64, 64, 1), 2, "whale_cnn", 11),
}
TARGET_CPU = 1.5  # the target for the whole grid on the 2-core CPU


def members_of(grid: str, n: int, seeds: int):
    """The grid's members on seeded synthetic inputs (each member its own inputs and its seed's weights)."""
    from relmask.pipeline.training import Member, build_model

    shape, classes, model, per_seed = GRIDS[grid]
    rng = __import__("numpy").random.default_rng(0)
    y = rng.integers(0, classes, n)
    out = []
    for seed in range(seeds):
        for v in range(per_seed):
            x = rng.random((n, *shape), dtype="float32")
            out.append(Member(build_model(model, shape, classes, seed=seed), x, y, seed=seed,
                              name=f"{grid}/{v}/seed{seed}"))
    return out


def previous_fit(model, x, y, *, epochs: int, batch_size: int, seed: int) -> None:
    """relmask's training before grouped training (commit cd23562), for the benchmark's ``previous`` mode."""
    import keras
    import tensorflow as tf

    from relmask.pipeline.training import compile_classifier, set_seed

    set_seed(seed)
    compile_classifier(model)
    xt, yt = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
    index = tf.data.Dataset.range(len(x)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    data = index.batch(batch_size).map(lambda i: (tf.gather(xt, i), tf.gather(yt, i))).prefetch(tf.data.AUTOTUNE)
    model.fit(data, epochs=epochs, shuffle=False, verbose=0)
    keras.backend.clear_session()


def worker(args) -> None:
    import resource

    import keras
    import numpy as np

    from relmask.pipeline.training import fit, fit_group

    members = members_of(args.grid, args.n, args.seeds)
    t0 = time.perf_counter()
    if args.mode.startswith("grouped"):
        chunk = args.mode.split(":")[1]
        fit_group(members, epochs=args.epochs, batch_size=args.batch_size,
                  chunk_size=None if chunk == "auto" else int(chunk))
    elif args.mode == "previous":
        for m in members:
            previous_fit(m.model, m.x, m.y, epochs=args.epochs, batch_size=args.batch_size, seed=m.seed)
    else:
        for m in members:
            fit(m.model, m.x, m.y, epochs=args.epochs, batch_size=args.batch_size, seed=m.seed)
    seconds = time.perf_counter() - t0
    checksum = [float(np.sum([np.abs(w).sum() for w in m.model.get_weights()])) for m in members]
    print(json.dumps({"grid": args.grid, "mode": args.mode, "members": len(members), "n": args.n,
                      "epochs": args.epochs, "seconds": round(seconds, 2), "backend": keras.backend.backend(),
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "checksum": checksum}))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", choices=[*GRIDS, "both"], default="both")
    ap.add_argument("--n", type=int, default=2000, help="training samples per member")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds of both modes")
    ap.add_argument("--chunk-sizes", default="auto", help="comma-separated chunk sizes to time (auto = default)")
    ap.add_argument("--previous", action="store_true", help="also time the pre-grouping training path (TF)")
    ap.add_argument("--out", default=None, help="also append the JSON lines to this file")
    ap.add_argument("--mode", help=argparse.SUPPRESS)  # the worker's: one_by_one or grouped:C
    args = ap.parse_args(argv)
    if args.mode:
        worker(args)
        return 0

    import numpy as np

    grids = list(GRIDS) if args.grid == "both" else [args.grid]
    times: dict[tuple[str, str], list[float]] = {}
    peaks: dict[tuple[str, str], float] = {}
    sums: dict[tuple[str, str], list[float]] = {}
    lines = []
    modes = (["previous"] if args.previous else []) + ["one_by_one"] + [
        f"grouped:{c.strip()}" for c in args.chunk_sizes.split(",")]
    for r in range(args.rounds):
        for grid in grids:
            shift = r % len(modes)
            for mode in modes[shift:] + modes[:shift]:
                cmd = [sys.executable, __file__, "--mode", mode, "--grid", grid, "--n", str(args.n),
                       "--epochs", str(args.epochs), "--seeds", str(args.seeds),
                       "--batch-size", str(args.batch_size)]
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode:
                    sys.exit(f"{mode} worker failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
                row = json.loads(done.stdout.strip().splitlines()[-1])
                row["round"] = r
                times.setdefault((grid, mode), []).append(row["seconds"])
                peaks[(grid, mode)] = max(peaks.get((grid, mode), 0.0), row["peak_rss_mib"])
                sums[(grid, mode)] = row.pop("checksum")
                print(json.dumps(row), flush=True)
                lines.append(row)
    ok = True
    for grid in grids:
        s = float(np.median(times[(grid, "one_by_one")]))
        previous = float(np.median(times[(grid, "previous")])) if args.previous else None
        for mode in modes:
            if mode in ("one_by_one", "previous"):
                continue
            g = float(np.median(times[(grid, mode)]))
            same = np.allclose(sums[(grid, mode)], sums[(grid, "one_by_one")], rtol=1e-4)
            ok &= bool(same)
            summary = {"grid": grid, "mode": mode, "one_by_one_s": round(s, 2), "grouped_s": round(g, 2),
                       "speedup": round(s / g, 2), "target": TARGET_CPU,
                       **({"previous_s": round(previous, 2), "speedup_vs_previous": round(previous / g, 2)}
                          if previous else {}),
                       "peak_rss_mib": {m: peaks[(grid, m)] for m in modes if m in ("one_by_one", "previous", mode)},
                       "same_weights": bool(same), "rounds": args.rounds, "cpu_count": os.cpu_count()}
            print(json.dumps(summary), flush=True)
            lines.append(summary)
    if args.out:
        with open(args.out, "a") as f:
            f.writelines(json.dumps(x) + "\n" for x in lines)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
