"""Reference maps of iNNvestigate 2.1.2 and Zennit 1.0.0 for relmask's compatibility presets (run by hand).

relmask registers LRP methods under the reference toolboxes' own names (``innvestigate.lrp.alpha_1_beta_0``,
``zennit.EpsilonPlus``, …; docs/relevance.md, *LRP by the reference toolboxes' names*).
``tests/plugins/test_relevance_reference_toolboxes.py`` checks them against maps that the toolboxes themselves computed,
stored in ``maps.npz`` next to this file, the way iNNvestigate keeps its own reference maps. This script writes
that file. Each toolbox runs in its own virtual environment (iNNvestigate needs TensorFlow 2.14 and Keras 2,
relmask Keras 3), outside the repository::

    python3 -m venv /work/venvs/innvestigate
    /work/venvs/innvestigate/bin/pip install tensorflow-cpu==2.14.1 innvestigate==2.1.2
    python3 -m venv /work/venvs/zennit
    /work/venvs/zennit/bin/pip install "torch==2.13.0+cpu" numpy pillow click   # or any torch 2.x CPU wheel
    /work/venvs/zennit/bin/pip install --no-deps --ignore-requires-python zennit==1.0.0
    python -m tests.reference_toolboxes.generate \\
        --innvestigate /work/venvs/innvestigate/bin/python --zennit /work/venvs/zennit/bin/python

(zennit 1.0.0 declares Python ≥ 3.11.11; it runs on 3.11.7. It imports torchvision for three class names of its
torchvision canonizers; PyPI's torchvision wheels are built against CUDA torch and do not load with a CPU torch,
so without a working torchvision the Zennit worker puts a stub with those three names in its place, which none of
the models here uses.)

The script, from the repository root in relmask's environment:

1. builds the fixed-weight models of :data:`MODELS` (Dense; Conv with max and average pooling; Conv → BatchNorm
   → ReLU; each with biases and without) from :data:`MODELS`' layer lists, with weights drawn from NumPy's seeded
   generator, and a small input batch with negative values (so that the a⁻ terms of z⁺/αβ matter);
2. runs itself as a worker in each toolbox's environment (``--worker innvestigate|zennit``), which rebuilds the
   same models in tf.keras 2 / PyTorch with the same weights, computes the map of every reference case of
   :data:`CASES` (relevance started at the target logit, ``onehot(target) · logit``, as relmask and iNNvestigate
   do; Zennit's attributor takes this as its ``attr_output``), and times every case on :data:`TIMING_MODEL` with
   a batch of :data:`TIMING_BATCH`;
3. writes ``maps.npz`` (the models' layer lists, weights, inputs, targets and every map; < 1 MB) and
   ``benchmarks/results/<date>_toolboxes/timings.json`` (each toolbox's seconds per case, its versions, and
   relmask's time for the same cases measured before and after the toolboxes in this process, the better of
   the two). ``--timings-only`` skips the maps (``maps.npz`` is left as it is).

Zennit's composites run with ``canonizers=[SequentialMergeBatchNorm()]`` (BatchNorm folded into the preceding
layer, as relmask does); without a canonizer Zennit passes relevance through BatchNorm unchanged.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MAPS = HERE / "maps.npz"
SEED = 18
N_SAMPLES = 5
N_CLASSES = 3
TIMING_BATCH = 256
TIMING_ROUNDS = 5

#: model name -> (input shape (H, W, C), layers); a layer is (kind, *arguments); ``_b``/``_nb`` suffixes below
#: add the variants with and without biases in Dense and Conv layers (BatchNorm keeps its β and mean either way)
ARCHITECTURES = {
    "dense": ((6, 6, 1), [("flatten",), ("dense", "d1", 10, True), ("dense", "d2", 8, True),
                          ("dense", "out", N_CLASSES, False)]),
    "cnn": ((10, 10, 1), [("conv", "c1", 4, 3, "same", True), ("maxpool", 2), ("conv", "c2", 6, 3, "valid", True),
                          ("avgpool", 2), ("flatten",), ("dense", "d1", 8, True),
                          ("dense", "out", N_CLASSES, False)]),
    "cnn_bn": ((10, 10, 1), [("conv", "c1", 4, 3, "same", False), ("bn", "bn1"), ("relu",), ("maxpool", 2),
                             ("conv", "c2", 5, 3, "valid", True), ("flatten",), ("dense", "out", N_CLASSES, False)]),
}
MODELS = {f"{name}_{b}": (shape, layers, b == "b") for name, (shape, layers) in ARCHITECTURES.items()
          for b in ("b", "nb")}
#: timed on a batch of TIMING_BATCH (weights as above; a conv net of the size LRP is used on)
TIMING_MODEL = ((32, 32, 3), [("conv", "c1", 16, 3, "same", True), ("maxpool", 2),
                              ("conv", "c2", 32, 3, "same", True), ("maxpool", 2), ("flatten",),
                              ("dense", "d1", 64, True), ("dense", "out", 10, False)], True)

#: (key, toolbox, the toolbox's name, its keyword arguments, relmask method, relmask parameters); key
#: ``method@variant`` when the same method runs with other parameters
CASES = [
    ("innvestigate.lrp.z", "innvestigate", "lrp.z", {}, "innvestigate.lrp.z", {}),
    ("innvestigate.lrp.epsilon", "innvestigate", "lrp.epsilon", {}, "innvestigate.lrp.epsilon", {}),
    ("innvestigate.lrp.epsilon@0.01", "innvestigate", "lrp.epsilon", {"epsilon": 0.01}, "innvestigate.lrp.epsilon",
     {"epsilon": 0.01}),
    ("innvestigate.lrp.epsilon@ignore", "innvestigate", "lrp.epsilon", {"bias": False}, "innvestigate.lrp.epsilon",
     {"bias": "ignore"}),
    *[(f"innvestigate.lrp.{n}", "innvestigate", f"lrp.{n}", {}, f"innvestigate.lrp.{n}", {})
      for n in ("z_plus", "alpha_1_beta_0", "alpha_1_beta_0_IB", "alpha_2_beta_1", "alpha_2_beta_1_IB",
                "sequential_preset_a", "sequential_preset_b", "sequential_preset_a_flat",
                "sequential_preset_b_flat")],
    ("innvestigate.lrp.sequential_preset_a@0.01", "innvestigate", "lrp.sequential_preset_a", {"epsilon": 0.01},
     "innvestigate.lrp.sequential_preset_a", {"epsilon": 0.01}),
    *[(f"zennit.{n}", "zennit", n, {}, f"zennit.{n}", {})
      for n in ("EpsilonPlus", "EpsilonPlusFlat", "EpsilonAlpha2Beta1", "EpsilonAlpha2Beta1Flat",
                "ExcitationBackprop")],
    *[(f"zennit.{n}@ignore", "zennit", n, {"zero_params": ["bias"]}, f"zennit.{n}", {"bias": "ignore"})
      for n in ("EpsilonPlus", "EpsilonAlpha2Beta1", "ExcitationBackprop")],
    ("zennit.EpsilonPlusFlat@0.01", "zennit", "EpsilonPlusFlat", {"epsilon": 0.01, "stabilizer": 1e-4},
     "zennit.EpsilonPlusFlat", {"epsilon": 0.01, "stabilizer": 1e-4}),
]
#: cases that are timed (one per distinct computation)
TIMED = [c[0] for c in CASES if "@" not in c[0]]


# -- models and weights (NumPy only: every environment runs this) ---------------------------------------------
def _shapes(shape, layers):
    """(layer, input channels / features) per weighted layer, walking the layer list."""
    h, w, c = shape
    flat = None
    for layer in layers:
        kind = layer[0]
        if kind == "conv":
            yield layer, c
            if layer[4] == "valid":
                h, w = h - layer[3] + 1, w - layer[3] + 1
            c = layer[2]
        elif kind == "bn":
            yield layer, c
        elif kind in ("maxpool", "avgpool"):
            h, w = h // layer[1], w // layer[1]
        elif kind == "flatten":
            flat = h * w * c
        elif kind == "dense":
            yield layer, flat
            flat = layer[2]


def make_weights(shape, layers, bias: bool, seed: int) -> dict[str, np.ndarray]:
    """{layer/kind: array} in Keras layouts (conv kernel H×W×in×out, dense in×out), float32."""
    rng = np.random.default_rng(seed)
    out = {}
    for layer, fan in _shapes(shape, layers):
        name = layer[1]
        if layer[0] == "bn":
            out[f"{name}/gamma"] = rng.uniform(0.5, 1.5, fan)
            out[f"{name}/beta"] = rng.normal(0.0, 0.3, fan)
            out[f"{name}/mean"] = rng.normal(0.0, 0.3, fan)
            out[f"{name}/var"] = rng.uniform(0.5, 1.5, fan)
            continue
        kshape = (layer[3], layer[3], fan, layer[2]) if layer[0] == "conv" else (fan, layer[2])
        out[f"{name}/kernel"] = rng.normal(0.0, np.sqrt(2.0 / np.prod(kshape[:-1])), kshape)
        if bias:
            # larger than trained biases usually are, so that the conventions differ visibly
            out[f"{name}/bias"] = rng.normal(0.0, 0.3, layer[2])
    return {k: v.astype(np.float32) for k, v in out.items()}


def build_keras(keras, shape, layers, weights: dict):
    """The model in Keras 2 (tf.keras) or Keras 3 with ``weights``; logits out (iNNvestigate wants no softmax)."""
    L = keras.layers
    model = keras.Sequential([keras.Input(shape)])
    for layer in layers:
        kind = layer[0]
        if kind == "conv":
            model.add(L.Conv2D(layer[2], layer[3], padding=layer[4], activation="relu" if layer[5] else None,
                               use_bias=f"{layer[1]}/bias" in weights, name=layer[1]))
        elif kind == "dense":
            model.add(L.Dense(layer[2], activation="relu" if layer[3] else None,
                              use_bias=f"{layer[1]}/bias" in weights, name=layer[1]))
        elif kind == "bn":
            model.add(L.BatchNormalization(name=layer[1]))
        elif kind == "relu":
            # Activation, not ReLU: iNNvestigate's model check rejects the ReLU layer class
            model.add(L.Activation("relu"))
        elif kind == "maxpool":
            model.add(L.MaxPooling2D(layer[1]))
        elif kind == "avgpool":
            model.add(L.AveragePooling2D(layer[1]))
        elif kind == "flatten":
            model.add(L.Flatten())
    for layer in layers:
        if layer[0] in ("conv", "dense"):
            ws = [weights[f"{layer[1]}/kernel"]] + ([weights[f"{layer[1]}/bias"]] if f"{layer[1]}/bias" in weights
                                                   else [])
            model.get_layer(layer[1]).set_weights(ws)
        elif layer[0] == "bn":
            model.get_layer(layer[1]).set_weights([weights[f"{layer[1]}/{k}"] for k in ("gamma", "beta", "mean",
                                                                                      "var")])
    return model


def weights_of(arrays: dict, model: str) -> dict:
    """{layer/kind: array} of one model from the stored ``w:<model>/<layer>/<kind>`` arrays."""
    prefix = f"w:{model}/"
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def rel_error(got, want) -> float:
    """max |got − want| / max |want|: the error relative to the largest value of the reference map."""
    return float(np.abs(np.asarray(got, np.float64) - want).max() / max(np.abs(want).max(), 1e-30))


# -- workers (run in the toolboxes' environments) -------------------------------------------------------------
def _best_time(fn, rounds: int) -> float:
    """The fastest of ``rounds`` calls after an untimed one: on a shared machine other processes only ever add
    time, so the minimum is the estimate least moved by them (``timeit``'s advice)."""
    fn()  # warm-up: graph building, tracing, allocation
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(min(times))


def _innvestigate_worker(job: dict, arrays: dict) -> tuple[dict, dict, dict]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.compat.v1.disable_eager_execution()  # iNNvestigate 2.x builds graph-mode analyzers
    from importlib.metadata import version

    import innvestigate

    maps, times = {}, {}

    def analyzer(model, name, kwargs):
        return innvestigate.create_analyzer(name, model, neuron_selection_mode="index", **kwargs)

    for mname, (shape, layers, _) in job["models"].items():
        model = build_keras(tf.keras, tuple(shape), layers, weights_of(arrays, mname))
        x, t = arrays[f"x:{mname}"], arrays[f"t:{mname}"]
        for key, lib, name, kwargs, *_ in job["cases"]:
            if lib == "innvestigate":
                print(f"{mname}: {key}", flush=True)
                maps[f"{key}/{mname}"] = np.asarray(analyzer(model, name, kwargs).analyze(x, neuron_selection=t),
                                                    np.float32)
        tf.keras.backend.clear_session()
    shape, layers, _ = job["timing_model"]
    rounds = job.get("rounds", TIMING_ROUNDS)
    model = build_keras(tf.keras, tuple(shape), layers, {k[2:]: v for k, v in arrays.items() if k.startswith("T:")})
    x, t = arrays["x:timing"], arrays["t:timing"]
    for key, lib, name, kwargs, *_ in job["cases"]:
        if lib == "innvestigate" and key in job["timed"]:
            a = analyzer(model, name, kwargs)
            times[key] = _best_time(lambda a=a: a.analyze(x, neuron_selection=t), rounds)
    return maps, times, {"innvestigate": version("innvestigate"), "tensorflow": tf.__version__}


def _torchvision_stub():
    """Stand-ins for the three torchvision classes zennit names at import (see the module docstring)."""
    import types

    import torch

    tv = types.ModuleType("torchvision")
    tv.ops = types.ModuleType("torchvision.ops")
    tv.models = types.ModuleType("torchvision.models")
    tv.models.resnet = types.ModuleType("torchvision.models.resnet")
    tv.ops.FrozenBatchNorm2d = type("FrozenBatchNorm2d", (torch.nn.Module,), {})
    tv.models.resnet.Bottleneck = type("Bottleneck", (torch.nn.Module,), {})
    tv.models.resnet.BasicBlock = type("BasicBlock", (torch.nn.Module,), {})
    for name, mod in (("torchvision", tv), ("torchvision.ops", tv.ops), ("torchvision.models", tv.models),
                      ("torchvision.models.resnet", tv.models.resnet)):
        sys.modules[name] = mod


def _torch_model(torch, shape, layers, weights):
    """The same model in PyTorch (NCHW inside; flattened in Keras' H, W, C order so that Dense weights carry over)."""
    nn = torch.nn

    class ChannelsLast(nn.Module):
        def forward(self, x):
            return x.permute(0, 2, 3, 1)

    mods, c = [], shape[2]
    for layer in layers:
        kind = layer[0]
        if kind == "conv":
            conv = nn.Conv2d(c, layer[2], layer[3], padding=layer[4], bias=f"{layer[1]}/bias" in weights)
            conv.weight.data = torch.from_numpy(weights[f"{layer[1]}/kernel"].transpose(3, 2, 0, 1).copy())
            if conv.bias is not None:
                conv.bias.data = torch.from_numpy(weights[f"{layer[1]}/bias"])
            mods += [conv] + ([nn.ReLU()] if layer[5] else [])
            c = layer[2]
        elif kind == "dense":
            k = weights[f"{layer[1]}/kernel"]
            lin = nn.Linear(k.shape[0], k.shape[1], bias=f"{layer[1]}/bias" in weights)
            lin.weight.data = torch.from_numpy(k.T.copy())
            if lin.bias is not None:
                lin.bias.data = torch.from_numpy(weights[f"{layer[1]}/bias"])
            mods += [lin] + ([nn.ReLU()] if layer[3] else [])
        elif kind == "bn":
            bn = nn.BatchNorm2d(c, eps=1e-3)  # Keras' default ε
            bn.weight.data, bn.bias.data = (torch.from_numpy(weights[f"{layer[1]}/{k}"]) for k in ("gamma", "beta"))
            bn.running_mean.data, bn.running_var.data = (torch.from_numpy(weights[f"{layer[1]}/{k}"])
                                                         for k in ("mean", "var"))
            mods.append(bn)
        elif kind == "relu":
            mods.append(nn.ReLU())
        elif kind == "maxpool":
            mods.append(nn.MaxPool2d(layer[1]))
        elif kind == "avgpool":
            mods.append(nn.AvgPool2d(layer[1]))
        elif kind == "flatten":
            mods += [ChannelsLast(), nn.Flatten()]
    return nn.Sequential(*mods).eval()


def _zennit_worker(job: dict, arrays: dict) -> tuple[dict, dict, dict]:
    import torch

    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 - any failure to load it: see _torchvision_stub
        for name in [m for m in sys.modules if m.startswith("torchvision")]:
            del sys.modules[name]
        _torchvision_stub()
    from importlib.metadata import version

    from zennit import composites
    from zennit.canonizers import SequentialMergeBatchNorm

    def attribute(model, name, kwargs, x, t):
        comp = getattr(composites, name)(canonizers=[SequentialMergeBatchNorm()], **kwargs)
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
        with comp.context(model) as modified:
            out = modified(xt)
            start = torch.nn.functional.one_hot(torch.from_numpy(t).long(), out.shape[1]) * out
            (rel,) = torch.autograd.grad(out, xt, start.detach())
        return rel.detach().numpy().transpose(0, 2, 3, 1)

    maps, times = {}, {}
    for mname, (shape, layers, _) in job["models"].items():
        model = _torch_model(torch, tuple(shape), layers, weights_of(arrays, mname))
        x, t = arrays[f"x:{mname}"], arrays[f"t:{mname}"]
        for key, lib, name, kwargs, *_ in job["cases"]:
            if lib == "zennit":
                print(f"{mname}: {key}", flush=True)
                maps[f"{key}/{mname}"] = attribute(model, name, kwargs, x, t).astype(np.float32)
    shape, layers, _ = job["timing_model"]
    rounds = job.get("rounds", TIMING_ROUNDS)
    model = _torch_model(torch, tuple(shape), layers, {k[2:]: v for k, v in arrays.items() if k.startswith("T:")})
    x, t = arrays["x:timing"], arrays["t:timing"]
    for key, lib, name, kwargs, *_ in job["cases"]:
        if lib == "zennit" and key in job["timed"]:
            times[key] = _best_time(lambda name=name, kwargs=kwargs: attribute(model, name, kwargs, x, t), rounds)
    return maps, times, {"zennit": version("zennit"), "torch": torch.__version__,
                         "torch_threads": torch.get_num_threads()}


WORKERS = {"innvestigate": _innvestigate_worker, "zennit": _zennit_worker}


def _worker_main(which: str, folder: Path) -> None:
    job = json.loads((folder / "job.json").read_text())
    with np.load(folder / "arrays.npz") as f:
        arrays = {k: f[k] for k in f.files}
    maps, times, versions = WORKERS[which](job, arrays)
    np.savez(folder / f"maps_{which}.npz", **maps)
    (folder / f"times_{which}.json").write_text(json.dumps({"seconds": times, "versions": versions}))


# -- the driver (relmask's environment) -----------------------------------------------------------------------
def make_inputs(shape, n: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0, (n, *shape)).astype(np.float32), (np.arange(n) % N_CLASSES).astype(np.int32)


def job_arrays() -> dict[str, np.ndarray]:
    """Weights (``w:<model>/<layer>/<kind>``), inputs (``x:``) and targets (``t:``) of every model, and the
    timing model's weights (``T:<layer>/<kind>``) and batch (``x:timing``, ``t:timing``): the same every run."""
    arrays = {}
    for i, (name, (shape, layers, bias)) in enumerate(MODELS.items()):
        for k, v in make_weights(shape, layers, bias, SEED + i).items():
            arrays[f"w:{name}/{k}"] = v
        arrays[f"x:{name}"], arrays[f"t:{name}"] = make_inputs(shape, N_SAMPLES, SEED + 100 + i)
    shape, layers, bias = TIMING_MODEL
    for k, v in make_weights(shape, layers, bias, SEED + 200).items():
        arrays[f"T:{k}"] = v
    arrays["x:timing"], _ = make_inputs(shape, TIMING_BATCH, SEED + 201)
    arrays["t:timing"] = (np.arange(TIMING_BATCH) % 10).astype(np.int32)
    return arrays


def write_job(folder: Path, arrays: dict, maps: bool = True, timed=None, rounds: int = TIMING_ROUNDS) -> None:
    """The workers' input: ``maps`` False skips the reference maps (timing only); ``timed``: cases to time."""
    np.savez(folder / "arrays.npz", **arrays)
    (folder / "job.json").write_text(json.dumps({"models": MODELS if maps else {}, "cases": CASES,
                                                 "timing_model": TIMING_MODEL, "rounds": rounds,
                                                 "timed": TIMED if timed is None else list(timed)}))


def run_worker(which: str, python: str, folder: Path, timeout: float = 3600) -> None:
    """Run the ``which`` worker with ``python`` on the job in ``folder`` (its output goes to ``which``.log there)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0", "PYTHONPATH": ""}
    log = folder / f"{which}.log"
    with open(log, "w") as out:
        proc = subprocess.run([python, str(Path(__file__).resolve()), "--worker", which, str(folder)], env=env,
                              stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"the {which} worker ({python}) failed:\n{log.read_text()[-4000:]}")


def relmask_seconds(arrays: dict, keys: list[str], rounds: int = TIMING_ROUNDS) -> dict[str, float]:
    """relmask's best time per case on the timing model and batch (this process, TensorFlow unless told)."""
    import keras

    import relmask

    shape, layers, _ = TIMING_MODEL
    model = build_keras(keras, shape, layers, {k[2:]: v for k, v in arrays.items() if k.startswith("T:")})
    x, t = arrays["x:timing"], arrays["t:timing"]
    method = {c[0]: (c[4], c[5]) for c in CASES}
    return {k: _best_time(lambda k=k: relmask.explain(model, x, method[k][0], targets=t, batch_size=len(x),
                                                        progress=False, **method[k][1]), rounds) for k in keys}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--innvestigate", default="/work/venvs/innvestigate/bin/python",
                    help="python of the iNNvestigate 2.1.2 / TensorFlow 2.14 environment")
    ap.add_argument("--zennit", default="/work/venvs/zennit/bin/python",
                    help="python of the Zennit 1.0.0 / PyTorch environment")
    ap.add_argument("--results", default=None, help="folder for timings.json (default: "
                    "benchmarks/results/<today>_toolboxes)")
    ap.add_argument("--timings-only", action="store_true", help="only time the cases (maps.npz is kept)")
    ap.add_argument("--worker", nargs=2, metavar=("TOOLBOX", "FOLDER"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        _worker_main(args.worker[0], Path(args.worker[1]))
        return 0
    arrays = job_arrays()
    before = relmask_seconds(arrays, TIMED)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_job(folder, arrays, maps=not args.timings_only)
        maps, timings = {}, {}
        for which, python in (("innvestigate", args.innvestigate), ("zennit", args.zennit)):
            t0 = time.perf_counter()
            run_worker(which, python, folder)
            with np.load(folder / f"maps_{which}.npz") as f:
                maps.update({k: f[k] for k in f.files})
            timings[which] = json.loads((folder / f"times_{which}.json").read_text())
            print(f"{which}: {sum(k.startswith(which) for k in maps)} maps in {time.perf_counter() - t0:.0f} s")
    if not args.timings_only:
        stored = {k: v for k, v in arrays.items() if not k.startswith(("T:", "x:timing", "t:timing"))}
        meta = {"models": MODELS, "cases": [c for c in CASES], "seed": SEED,
                "versions": {w: timings[w]["versions"] for w in timings}}
        np.savez_compressed(MAPS, meta=np.array(json.dumps(meta)), **stored,
                            **{f"map:{k}": v for k, v in maps.items()})
        print(f"wrote {MAPS.relative_to(ROOT)} ({MAPS.stat().st_size / 1024:.0f} KiB, {len(maps)} maps)")

    from relmask.io import write_json

    date = time.strftime("%Y-%m-%d", time.gmtime())
    out = Path(args.results) if args.results else ROOT / "benchmarks" / "results" / f"{date}_toolboxes"
    after = relmask_seconds(arrays, TIMED)
    relmask_times = {k: min(before[k], after[k]) for k in TIMED}
    import keras

    write_json(out / "timings.json", {
        "date": date, "machine": f"{platform.machine()}, {os.cpu_count()} cores ({platform.platform()})",
        "batch": TIMING_BATCH, "rounds": TIMING_ROUNDS,
        "statistic": "fastest of `rounds` calls after an untimed one, seconds per batch",
        "model": TIMING_MODEL, "toolboxes": timings,
        "relmask": {"seconds": relmask_times, "versions": {"keras": keras.__version__,
                                                           "backend": keras.backend.backend()}},
        "note": "each toolbox ran in its own process and environment, one after the other, on a shared machine"})
    print(f"wrote {out / 'timings.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
