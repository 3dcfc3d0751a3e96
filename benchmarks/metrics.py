"""Benchmark of the pixel-flipping metric: its time as a ratio to one forward pass over the same perturbed inputs.

    python benchmarks/metrics.py [--n 1000] [--steps 20] [--model whale_cnn] [--batch-size 256] [--fill zero]
                                 [--patch-size P] [--rounds 3] [--json FILE] [--quick]

``relmask.evaluate(model, x, y, maps, "pixel_flipping", steps=S)`` on ``--n`` synthetic samples sends
``n · (2S + 1)`` inputs through the model (step 0 once, then S MoRF and S LeRF steps per sample). Its floor is
the model's logit function over exactly those inputs, built beforehand and held in memory, in batches of the same
size through the same compiled function: what the metric cannot avoid. The difference is the metric's own work
(ranking the maps, building every perturbed input batch by batch, the curves).

Both run in this one process, side by side: one untimed call traces the shared logit function, then ``--rounds``
rounds that each time both, alternating which goes first, and the median of the per-round ratios metric / floor.
Pairing them round by round cancels most of the drift of a shared machine's load; the process CPU time of each
call (``time.process_time``, all threads) is reported beside the wall time, since on a busy machine it moves less.
The model is a fixed untrained registered architecture (the cost does not depend on the weights' values); by
default ``whale_cnn`` on 65×59×1 spectrograms. ``--quick``: 64 samples, 5 steps, 2 rounds (a smoke test).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

from relmask._env import apply_defaults

apply_defaults()  # relmask's TensorFlow environment defaults (relmask._env), before anything imports TensorFlow

#: input shape of each benchmark model (the whale spectrogram; a 48×48 face)
SHAPES = {"whale_cnn": (65, 59, 1), "whale_cnn_bn": (65, 59, 1), "fer_small_cnn": (48, 48, 1),
          "fer_deep_cnn": (48, 48, 1)}


def perturbed_inputs(x, relevance, steps, patch_size, fill):
    """Every input pixel flipping evaluates, in its order: step 0 of each sample, then (order, sample, step)."""
    import numpy as np

    from relmask.pipeline.masking import fill_values
    from relmask.scoring.metrics import removal_counts, removal_ranks

    n = len(x)
    flat = x.reshape(n, -1)
    fills = np.ascontiguousarray(np.broadcast_to(fill_values(x, fill), x.shape)).reshape(n, -1)
    morf, lerf, units = removal_ranks(relevance, patch_size)
    ks = removal_counts(units, steps, 1.0)
    out = np.empty((n * (2 * steps + 1), flat.shape[1]), np.float32)
    out[:n] = flat
    i = n
    for rank in (morf, lerf):
        for r in range(n):
            removed = rank[r][None, :] < ks[1:, None]
            out[i:i + steps] = np.where(removed, fills[r], flat[r])
            i += steps
    return out.reshape((len(out), *x.shape[1:]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="samples (default 1000)")
    parser.add_argument("--steps", type=int, default=20, help="perturbation steps (default 20)")
    parser.add_argument("--model", default="whale_cnn", choices=sorted(SHAPES))
    parser.add_argument("--batch-size", type=int, default=256, help="inputs per forward pass, for both")
    parser.add_argument("--fill", default="zero", help="the metric's fill (a masker fill mode)")
    parser.add_argument("--patch-size", type=int, default=None, help="remove p×p patches instead of values")
    parser.add_argument("--rounds", type=int, default=3, help="paired timing rounds (default 3)")
    parser.add_argument("--json", help="also write the result as JSON to this file")
    parser.add_argument("--quick", action="store_true", help="64 samples, 5 steps, 2 rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.steps, args.rounds = 64, 5, 2
    if args.n < 1 or args.steps < 1 or args.rounds < 1:
        parser.error("--n, --steps and --rounds must be >= 1")

    import keras
    import numpy as np

    import relmask
    from relmask.pipeline.training import build_model
    from relmask.scoring.metrics import batched_logits

    shape = SHAPES[args.model]
    model = build_model(args.model, shape, 2, seed=0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.n, *shape)).astype(np.float32)
    y = rng.integers(0, 2, args.n)
    maps = rng.normal(size=x.shape).astype(np.float32)
    kw = dict(steps=args.steps, batch_size=args.batch_size, fill=args.fill, patch_size=args.patch_size)

    t0 = time.perf_counter()
    inputs = perturbed_inputs(x, maps, args.steps, args.patch_size, args.fill)
    build_s = time.perf_counter() - t0

    def metric():
        return relmask.evaluate(model, x, y, maps, "pixel_flipping", **kw)

    def floor():
        return batched_logits(model, len(inputs), lambda a, b: inputs[a:b], args.batch_size)

    # trace the compiled logit function once, untimed (both use it: same model, same batch shape)
    batched_logits(model, min(len(inputs), 2 * args.batch_size), lambda a, b: inputs[a:b], args.batch_size)

    rows, outputs = [], {}
    for i in range(args.rounds):
        times = {}
        for name, fn in ((("metric", metric), ("floor", floor)) if i % 2 == 0 else
                         (("floor", floor), ("metric", metric))):
            t, c = time.perf_counter(), time.process_time()
            outputs[name] = fn()
            times[name] = time.perf_counter() - t
            times[f"{name}_cpu"] = time.process_time() - c
        rows.append({**times, "ratio": times["metric"] / times["floor"],
                     "cpu_ratio": times["metric_cpu"] / times["floor_cpu"], "metric_first": i % 2 == 0})
        if i == 0:  # the floor really is the metric's work: step 0 and the last MoRF step of sample 0 agree
            out, z, n, s = outputs["metric"], outputs["floor"], args.n, args.steps
            assert np.allclose(out["logit_morf"][:, 0], z[np.arange(n), y], atol=1e-4)
            assert np.allclose(out["logit_morf"][0, s], z[n + s - 1, y[0]], atol=1e-4)
    result = {
        "n": args.n, "steps": args.steps, "inputs": len(inputs), "model": args.model, "input_shape": list(shape),
        "batch_size": args.batch_size, "fill": args.fill, "patch_size": args.patch_size,
        "metric_s": statistics.median(r["metric"] for r in rows),
        "floor_s": statistics.median(r["floor"] for r in rows),
        "ratio": statistics.median(r["ratio"] for r in rows),
        "cpu_ratio": statistics.median(r["cpu_ratio"] for r in rows), "rounds": rows,
        "prebuild_inputs_s": build_s,
        "keras": keras.__version__, "backend": keras.backend.backend(), "python": platform.python_version(),
        "cpus": os.cpu_count(), "loadavg_after": list(os.getloadavg()),
    }
    print(f"pixel flipping: {args.n} samples x {args.steps} steps ({len(inputs)} inputs, {args.model} "
          f"{'x'.join(map(str, shape))}, batch {args.batch_size}, fill {args.fill}, "
          f"patch {args.patch_size}), {keras.backend.backend()}, {os.cpu_count()} CPUs")
    print("| round | metric (s) | floor: one forward pass (s) | ratio | metric CPU (s) | floor CPU (s) | CPU ratio |")
    print("|---|---|---|---|---|---|---|")
    for i, r in enumerate(rows):
        print(f"| {i + 1}{' (metric first)' if r['metric_first'] else ''} | {r['metric']:.2f} | "
              f"{r['floor']:.2f} | {r['ratio']:.2f} | {r['metric_cpu']:.2f} | {r['floor_cpu']:.2f} | "
              f"{r['cpu_ratio']:.2f} |")
    print(f"median ratio metric / floor: {result['ratio']:.2f} wall, {result['cpu_ratio']:.2f} CPU time  (metric "
          f"{result['metric_s']:.2f} s, floor {result['floor_s']:.2f} s; load average after "
          f"{result['loadavg_after'][0]:.2f})")
    if args.json:
        from relmask.io import write_json

        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
