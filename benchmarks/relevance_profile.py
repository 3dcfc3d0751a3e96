"""Where a relevance method spends its time: per-operation time of its compiled graph next to the floor's.

    python benchmarks/relevance_profile.py [--n 256] [--model whale_cnn] [--rounds 3] [METHOD ...]

TensorFlow backend only. Each method (default: ``gradient`` and the LRP rules) is explained once on the same
batch and model as ``benchmarks/relevance.py`` (whale_cnn, 256 samples in [0, 1], target 0); its compiled
graph is then run ``--rounds`` more times in a TensorFlow session with full tracing, and the per-node times
(``RunMetadata.step_stats``) are summed by operation type. With two CPU cores, operations that run
concurrently each count their own wall time, so columns add up to more than the method's wall time.

It prints the time per operation type for every method, and for the floor (``gradient``) the share of its
time spent in convolutions and matrix products (forward and transposed): the work an LRP rule repeats when it
needs extra linear maps. A rule that needs *k* times the floor's linear maps (z⁺: 3 for 2 on layers with a
non-negative input, αβ: 4 for 2) cannot be faster than about 1 + (k/2 − 1) × that share of the floor, however
lean its elementwise work; this is the bound benchmarks/results/relevance.md quotes for αβ.
"""
from __future__ import annotations

import argparse
import collections
import os
import sys

from relmask._env import apply_defaults

apply_defaults()  # relmask's TensorFlow environment defaults (relmask._env), before anything imports TensorFlow
os.environ["KERAS_BACKEND"] = "tensorflow"

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from relevance import SHAPES  # noqa: E402  (the same models and input shapes as the speed benchmark)

DEFAULT = ("gradient", "lrp.epsilon", "lrp.z_plus", "lrp.alpha_beta", "lrp.flat", "lrp.zb",
           "lrp.epsilon_plus_flat", "lrp.epsilon_alpha2_beta1")
#: operation types that do a linear map's work (forward or transposed)
LINEAR_OPS = ("Conv2D", "_FusedConv2D", "Conv2DBackpropInput", "DepthwiseConv2dNative",
              "DepthwiseConv2dNativeBackpropInput", "MatMul", "_FusedMatMul", "BatchMatMulV2", "Conv3D")


def op_times(method: str, model, x, rounds: int) -> collections.Counter:
    """{operation type: mean seconds per call} of ``method``'s compiled graph on ``x``."""
    import numpy as np
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    import relmask
    from relmask.relevance.engine import compiled_functions

    before = set(compiled_functions(model))
    relmask.explain(model, x, method, targets=0, batch_size=len(x), progress=False)
    new = [run for key, run in compiled_functions(model).items() if key not in before]
    if len(new) != 1:
        raise SystemExit(f"{method}: expected one compiled graph, found {len(new)} (is it a compiled method?)")
    targets = np.zeros(len(x), np.int32)
    concrete = new[0].function.get_concrete_function(tf.TensorSpec(x.shape, tf.float32),
                                                     tf.TensorSpec(targets.shape, tf.int32))
    frozen = convert_variables_to_constants_v2(concrete)
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(frozen.graph.as_graph_def(), name="")
    feed = {frozen.inputs[0].name: x, frozen.inputs[1].name: targets}
    fetch = [t.name for t in frozen.outputs]
    totals: collections.Counter = collections.Counter()
    with tf.compat.v1.Session(graph=graph) as session:
        session.run(fetch, feed)  # warm-up
        options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
        for _ in range(rounds):
            meta = tf.compat.v1.RunMetadata()
            session.run(fetch, feed, options=options, run_metadata=meta)
            for device in meta.step_stats.dev_stats:
                for node in device.node_stats:
                    label = node.timeline_label
                    op = label.split("=", 1)[1].split("(", 1)[0].strip() if "=" in label else node.node_name
                    totals[op] += node.all_end_rel_micros * 1e-6 / rounds
    return totals


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("methods", nargs="*", default=list(DEFAULT), help="relevance methods (first: the floor)")
    ap.add_argument("--n", type=int, default=256, help="samples in the batch")
    ap.add_argument("--model", default="whale_cnn", choices=sorted(SHAPES))
    ap.add_argument("--rounds", type=int, default=3, help="traced runs per method (mean)")
    ap.add_argument("--top", type=int, default=8, help="operation types shown per method")
    args = ap.parse_args(argv)
    import numpy as np

    from relmask.pipeline.training import build_model

    shape = SHAPES[args.model]
    x = np.random.default_rng(0).uniform(0.0, 1.0, (args.n, *shape)).astype(np.float32)
    model = build_model(args.model, shape, 2, seed=0)
    print(f"model {args.model} {shape}, batch of {args.n}, TensorFlow, per-node times summed by operation type "
          f"(mean of {args.rounds} traced runs; concurrent nodes each count)\n")
    floor_total = None
    for method in args.methods:
        times = op_times(method, model, x, args.rounds)
        total = sum(times.values())
        linear = sum(v for k, v in times.items() if k in LINEAR_OPS)
        floor_total = floor_total or total
        print(f"{method}: {1000 * total:.0f} ms of operation time ({total / floor_total:.2f}× the first method's); "
              f"linear maps {1000 * linear:.0f} ms ({linear / total:.0%})")
        for op, v in times.most_common(args.top):
            print(f"    {1000 * v:8.1f} ms  {op}")
        if method == args.methods[0]:
            share = linear / total
            print(f"  → a rule with 1.5× / 2× these linear maps costs at least {1 + 0.5 * share:.2f}× / "
                  f"{1 + share:.2f}× this method")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
