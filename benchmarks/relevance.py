"""Benchmark of the relevance engine: time per 1,000 samples, ratio to the gradient floor, and peak memory.

    python benchmarks/relevance.py [--quick] [--n 256] [--repeats 5] [--min-seconds 10] [--model whale_cnn]
                                   [--methods a,b,...] [--backend tensorflow|jax] [--precision highest|default]
                                   [--json FILE]

Explains one batch of ``--n`` synthetic samples (``explain(..., batch_size=n, targets=0)``) of a fixed
untrained model (the cost does not depend on the weights' values): by default the registered ``whale_cnn`` on
65×59×1 spectrograms. Each method runs in a **fresh subprocess** that

* builds the model and the input, then reads its current resident set size (``/proc/self/statm``);
* calls the method once (tracing/compilation, not timed) and reports **peak memory** as the growth of the peak
  RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) over the RSS before that call: what the method (tracing
  included) costs on top of the backend and the model;
* then times the method and the floor **side by side**: rounds that each call both (alternating which goes
  first), at least ``--repeats`` of them and more until they took ``--min-seconds`` (at most 50, so fast
  methods get many pairs), and reports the method's median time scaled to 1,000 samples and the **median of the
  per-round ratios** method / floor. Pairing the two in one process, round by round, cancels the drift of a
  shared machine's load that separate processes would turn into noise in the ratio (the ``gradient`` row, the
  floor timed against itself, shows what is left of it).

The floor is ``gradient`` (one forward + one backward pass). tf-explain 0.3.1 runs on the same model and batch
(TensorFlow backend only), once through relmask's wrappers of its internal functions (``tfexplain.*``: raw
arrays, no picture) and once through its public ``explain()`` (which also renders the image grid a user gets),
with the same window and stride as relmask's occlusion. When relmask's occlusion row and tf-explain's internal
one (its computation without the picture) both run, one more process times them against each other, round by
round, and the occlusion target is judged on that ratio. The issue's targets — LRP ≤ 1.5× the floor, Grad-CAM
≤ 1.2×, relmask occlusion ≥ 3× faster than tf-explain's — are checked at the end (exit status 1 if one is
missed). ``--quick`` explains 64 samples, 3 rounds, a subset of the methods. ``--backend jax`` runs
relmask's methods under ``KERAS_BACKEND=jax`` (on a GPU where JAX sees one; tf-explain rows are left out);
``--precision default`` lets the backend use TensorFloat-32 on recent NVIDIA GPUs (explain()'s ``precision``).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

from relmask._env import apply_defaults

apply_defaults()  # relmask's TensorFlow environment defaults (relmask._env), before anything imports TensorFlow

from relmask.relevance import PRECISIONS  # noqa: E402  (imports no Keras: the parent process stays light)

#: input shape of each benchmark model (the whale spectrogram; a 48×48 face)
SHAPES = {"whale_cnn": (65, 59, 1), "whale_cnn_bn": (65, 59, 1), "fer_small_cnn": (48, 48, 1),
          "fer_deep_cnn": (48, 48, 1)}
WINDOW = 8  # occlusion window = stride, for relmask and tf-explain alike
FLOOR = "gradient"
#: the two rows of the occlusion target; when both run, they are also timed against each other in one process
OCCLUSION, TFX_OCCLUSION = f"occlusion (window=stride={WINDOW})", f"tfexplain.occlusion (internal, patch={WINDOW})"

#: row label -> (kind, relmask method name or tf-explain class, parameters)
METHODS = {
    FLOOR: ("relmask", "gradient", {}),
    "gradient_x_input": ("relmask", "gradient_x_input", {}),
    "integrated_gradients (steps=32)": ("relmask", "integrated_gradients", {"steps": 32}),
    "smoothgrad (samples=16)": ("relmask", "smoothgrad", {"samples": 16}),
    "gradcam": ("relmask", "gradcam", {}),
    OCCLUSION: ("relmask", "occlusion", {"window": WINDOW, "stride": WINDOW}),
    "lrp.epsilon": ("relmask", "lrp.epsilon", {}),
    "lrp.z_plus": ("relmask", "lrp.z_plus", {}),
    "lrp.alpha_beta": ("relmask", "lrp.alpha_beta", {}),
    "lrp.flat": ("relmask", "lrp.flat", {}),
    "lrp.w_square": ("relmask", "lrp.w_square", {}),
    "lrp.zb": ("relmask", "lrp.zb", {}),
    "lrp.epsilon_plus": ("relmask", "lrp.epsilon_plus", {}),
    "lrp.epsilon_plus_flat": ("relmask", "lrp.epsilon_plus_flat", {}),
    "lrp.epsilon_alpha2_beta1": ("relmask", "lrp.epsilon_alpha2_beta1", {}),
    "tfexplain.gradcam (internal, raw gradients)": ("relmask", "tfexplain.gradcam", {"use_guided_grads": False}),
    TFX_OCCLUSION: ("relmask", "tfexplain.occlusion", {"patch_size": WINDOW}),
    "tf-explain GradCAM().explain (public)": ("public", "GradCAM", {}),
    f"tf-explain OcclusionSensitivity().explain (public, patch={WINDOW})": ("public", "OcclusionSensitivity",
                                                                             {"patch_size": WINDOW}),
}
QUICK = (FLOOR, "gradcam", OCCLUSION, "lrp.epsilon", "lrp.epsilon_plus_flat",
         "tfexplain.gradcam (internal, raw gradients)", TFX_OCCLUSION)
MAX_ROUNDS = 50


def _select(spec: str) -> list[str]:
    """Row labels from ``--methods``: comma-separated, each a full label or its part before `` (`` (labels
    such as ``tfexplain.occlusion (internal, patch=8)`` hold commas, so commas inside parentheses do not split)."""
    short = {label.split(" (")[0]: label for label in METHODS}
    tokens = [t.strip() for t in re.split(r",(?![^()]*\))", spec) if t.strip()]
    return [short.get(t, t) for t in tokens]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _explainer(label: str, model, x, precision: str):
    """A zero-argument callable computing ``label``'s relevance of ``x`` for class 0 (``precision``: explain()'s)."""
    kind, name, params = METHODS[label]
    if kind == "relmask":
        import relmask

        return lambda: relmask.explain(model, x, name, targets=0, batch_size=len(x), progress=False,
                                       precision=precision, **params)
    # tf-explain's public API, called the way its README shows (functional model, explicit layer name)
    from relmask_plugins.relevance.gradcam import default_layer
    from relmask_plugins.relevance.tfexplain import functional

    fmodel = functional(model)
    if name == "GradCAM":
        from tf_explain.core.grad_cam import GradCAM

        layer = default_layer(model, x.ndim)
        return lambda: GradCAM().explain((x, None), fmodel, class_index=0, layer_name=layer)
    import keras
    from tf_explain.core.occlusion_sensitivity import OcclusionSensitivity

    # its model.predict per image would print a progress bar per image: silence Keras' bars, as a user would
    keras.utils.disable_interactive_logging()
    return lambda: OcclusionSensitivity().explain((x, None), fmodel, class_index=0, **params)


def _tensorflow_only(label: str) -> bool:
    kind, name, _ = METHODS[label]
    return kind == "public" or name.startswith("tfexplain.")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def worker(label: str, model_name: str, n: int, repeats: int, min_seconds: float, precision: str,
           against: str = FLOOR) -> dict:
    """Measure one method in this (fresh) process: memory of its first call, then time paired with ``against``
    (the floor; for the occlusion duel, relmask's occlusion)."""
    import keras
    import numpy as np

    from relmask.pipeline.training import build_model
    from relmask.running.provenance import accelerator_peak_bytes, compute_device

    shape = SHAPES[model_name]
    # spectrogram-like values in [0, 1] (tf-explain's occlusion patch is grey 127.5 whatever the range)
    x = np.random.default_rng(0).uniform(0.0, 1.0, (n, *shape)).astype(np.float32)
    model = build_model(model_name, shape, 2, seed=0)
    run = _explainer(label, model, x, precision)
    partner = _explainer(against, model, x, precision)
    rss0, acc0 = _rss_bytes(), accelerator_peak_bytes()
    first = _timed(run)
    peak = _peak_rss_bytes() - rss0  # read before the partner ever runs: this method's memory alone
    acc = accelerator_peak_bytes()  # JAX on a GPU: the device allocator's peak, likewise
    partner()  # the partner's own tracing, untimed
    times, partner_times = [], []
    start = time.perf_counter()
    # at least ``repeats`` rounds, more for fast methods: cheap rows get many pairs for the same wall time
    for i in range(MAX_ROUNDS):
        if i >= repeats and time.perf_counter() - start >= min_seconds:
            break
        if i % 2:
            partner_times.append(_timed(partner))
            times.append(_timed(run))
        else:
            times.append(_timed(run))
            partner_times.append(_timed(partner))
    return {"method": label, "backend": keras.backend.backend(), "first_call_s": first,
            "median_s": statistics.median(times), "ms_per_1000": 1e6 * statistics.median(times) / n,
            # "floor_*" and "ratio" are against ``against`` (named in the row): the floor but for the duel
            "floor_ms_per_1000": 1e6 * statistics.median(partner_times) / n,
            "ratio": statistics.median(t / f for t, f in zip(times, partner_times, strict=True)), "rounds": len(times),
            "peak_mib": peak / 2 ** 20, "device": compute_device(),
            "device_peak_mib": None if acc is None else (acc - acc0) / 2 ** 20, "against": against}


def _run_worker(label: str, args, against: str = FLOOR) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", label, "--model", args.model, "--n", str(args.n),
           "--repeats", str(args.repeats), "--min-seconds", str(args.min_seconds), "--precision", args.precision,
           "--against", against]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": args.backend})
    if proc.returncode != 0:
        raise SystemExit(f"benchmark of {label!r} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _mib(value) -> str:
    return "– | " if value is None else f"{value:.0f} | "


def table(rows: list[dict]) -> str:
    acc = any(r.get("device_peak_mib") is not None for r in rows)
    out = ["| method | time per 1,000 samples (s) | × floor (paired) | floor, same process (s) | rounds | "
           "peak RSS growth (MiB) | " + ("accelerator peak growth (MiB) | " if acc else "") + "first call (s) |",
           "|---|---:|---:|---:|---:|---:|" + ("---:|" if acc else "") + "---:|"]
    for r in rows:
        out.append(f"| {r['method']} | {r['ms_per_1000'] / 1000:.3f} | {r['ratio']:.2f} | "
                   f"{r['floor_ms_per_1000'] / 1000:.3f} | {r['rounds']} | {r['peak_mib']:.0f} | "
                   + (_mib(r.get("device_peak_mib")) if acc else "") + f"{r['first_call_s']:.2f} |")
    return "\n".join(out)


def targets(rows: list[dict], duel: dict | None = None) -> list[tuple[str, bool, str]]:
    """(target, met, measured) for the issue's speed targets (those whose rows were run), on paired ratios.

    ``duel``: tf-explain's occlusion timed against relmask's in one process; the occlusion target is judged on it
    when given (each row's floor comes from its own process, so their ratio carries two processes' noise).
    """
    by = {r["method"]: r["ratio"] for r in rows}
    out = []
    lrp = {k: v for k, v in by.items() if k.startswith("lrp.")}
    if lrp:
        worst = max(lrp, key=lrp.get)
        out.append(("every LRP method ≤ 1.5× the gradient floor", lrp[worst] <= 1.5,
                    f"slowest {worst}: {lrp[worst]:.2f}×; "
                    f"{sum(v <= 1.5 for v in lrp.values())} of {len(lrp)} within"))
    if "gradcam" in by:
        out.append(("Grad-CAM ≤ 1.2× the gradient floor", by["gradcam"] <= 1.2, f"{by['gradcam']:.2f}×"))
    occ = by.get(OCCLUSION)
    tfx = [v for k, v in by.items() if "occlusion" in k.lower() and "explain" in k.lower()]
    if occ and tfx:
        from_rows = min(tfx) / occ  # against tf-explain's faster variant, each in floor units of its own process
        speedup, measured = (duel["ratio"], f"{duel['ratio']:.1f}× faster side by side ({from_rows:.1f}× from the "
                             f"rows' floor ratios)") if duel else (from_rows, f"{from_rows:.1f}× faster")
        out.append(("relmask occlusion ≥ 3× faster than tf-explain's", speedup >= 3.0, measured))
    gc = by.get("gradcam")
    tfg = [v for k, v in by.items() if "gradcam" in k.lower() and "explain" in k.lower()]
    if gc and tfg:
        out.append(("(info) relmask Grad-CAM vs tf-explain's", True, f"{min(tfg) / gc:.1f}× faster"))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="64 samples, 3 rounds, a subset of the methods")
    ap.add_argument("--n", type=int, default=None, help="samples in the batch (default 256; 64 with --quick)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed rounds, each running the method and the floor (default 5; 3 with --quick)")
    ap.add_argument("--min-seconds", type=float, default=None,
                    help="keep adding rounds (up to 50) until the timed rounds took this long (default 10; 0 with "
                         "--quick)")
    ap.add_argument("--model", default="whale_cnn", choices=sorted(SHAPES), help="registered model to explain")
    ap.add_argument("--methods", default=None,
                    help="comma-separated rows, each its full label or the part before ' (' (default: all)")
    ap.add_argument("--backend", default="tensorflow", choices=("tensorflow", "jax"),
                    help="Keras backend of relmask's methods (tf-explain rows need tensorflow)")
    ap.add_argument("--precision", default=PRECISIONS[0], choices=PRECISIONS,
                    help="explain()'s matmul precision ('default': TensorFloat-32 on recent NVIDIA GPUs)")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--against", default=FLOOR, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.n = args.n or (64 if args.quick else 256)
    args.repeats = args.repeats or (3 if args.quick else 5)
    args.min_seconds = (0.0 if args.quick else 10.0) if args.min_seconds is None else args.min_seconds
    if args.worker:
        print(json.dumps(worker(args.worker, args.model, args.n, args.repeats, args.min_seconds, args.precision,
                                args.against)))
        return 0
    labels = _select(args.methods) if args.methods else list(QUICK if args.quick else METHODS)
    unknown = [m for m in labels if m not in METHODS]
    if unknown:
        ap.error(f"unknown method rows {unknown}; rows (full label or the part before ' ('): {list(METHODS)}")
    if args.backend != "tensorflow":
        tf_only = [m for m in labels if _tensorflow_only(m)]
        if args.methods and tf_only:
            ap.error(f"rows {tf_only} need the tensorflow backend")
        labels = [m for m in labels if m not in tf_only]
    if FLOOR not in labels:
        labels.insert(0, FLOOR)
    from tqdm.auto import tqdm

    rows = [_run_worker(label, args) for label in tqdm(labels, desc="methods", disable=None)]
    # the occlusion target compares two methods: time them against each other in one process, round by round,
    # rather than dividing two ratios whose floors come from different processes
    duel = _run_worker(TFX_OCCLUSION, args, against=OCCLUSION) if {OCCLUSION, TFX_OCCLUSION} <= set(labels) \
        else None
    print(f"model {args.model} {SHAPES[args.model]}, batch of {args.n}, {rows[0]['backend']} backend, medians of "
          f"≥ {args.repeats} warm rounds (≥ {args.min_seconds:g} s of them, ≤ {MAX_ROUNDS}) paired with the floor, "
          f"on {rows[0]['device']} ({os.cpu_count()} CPU cores), precision {args.precision}\n")
    print(table(rows))
    if duel:
        print(f"\nSide by side in one process: {duel['method']} took {duel['ratio']:.2f}× the time of {OCCLUSION} "
              f"(median of {duel['rounds']} paired rounds)")
    checks = targets(rows, duel)
    print()
    for name, ok, measured in checks:
        print(f"- {name}: {measured} — {'met' if ok else 'MISSED'}")
    if args.json:
        from relmask.io import write_json

        write_json(args.json, {"model": args.model, "n": args.n, "repeats": args.repeats, "backend": args.backend,
                               "precision": args.precision, "rows": rows, "occlusion_duel": duel})
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
