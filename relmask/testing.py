"""Conformance kit for relevance methods: use it in a plugin's own pytest suite.

    from relmask.testing import check_method, conformance_checks

    @pytest.mark.parametrize("check", conformance_checks())
    def test_my_method(check):
        check("my_plugin.method")            # raises AssertionError with a message on failure

or ``check_method("my_plugin.method")`` to run every check at once (returns {check name: "ok" | message}
when ``raise_errors=False``). Each check builds a tiny seeded model (or uses ``model``/``x`` you pass) and
explains at ``precision`` (explain()'s; default ``"highest"``, TensorFloat-32 off). The
backend-agreement check saves weights, runs the method in a ``KERAS_BACKEND=jax`` subprocess and compares.

From the shell (e.g. on a GPU machine with JAX but no TensorFlow)::

    relmask check --write-reference DIR                      # here: model, input and maps on this backend
    KERAS_BACKEND=jax relmask check --reference DIR          # there: every check + agreement, as a table
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from relmask.errors import ParameterError
from relmask.io import atomic_save_npy, read_json, write_json
from relmask.relevance import PRECISIONS
from relmask.running.provenance import compute_device

#: per-method keyword arguments the kit uses (fast settings)
FAST_PARAMS = {"integrated_gradients": {"steps": 8}, "smoothgrad": {"samples": 4},
               "occlusion": {"window": 4, "stride": 2}, "tfexplain.occlusion": {"patch_size": 4}}


def tiny_model(seed: int = 0, input_shape=(12, 12, 2), n_classes: int = 3, bias: bool = True):
    """A small seeded CNN (conv, BN, pooling, dense; softmax output). ``bias=False``: bias-free ReLU net."""
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(seed)
    layers = [keras.Input(input_shape), L.Conv2D(4, 3, padding="same", use_bias=bias, name="conv1"),
              L.ReLU(), L.Conv2D(6, 3, activation="relu", use_bias=bias, name="conv2"), L.MaxPooling2D(2),
              L.Flatten(), L.Dense(8, activation="relu", use_bias=bias), L.Dense(n_classes, activation="softmax",
                                                                                  use_bias=bias)]
    if bias:
        layers.insert(2, L.BatchNormalization())
    model = keras.Sequential(layers)
    rng = np.random.default_rng(seed)
    for w in model.weights:  # non-trivial biases and BN statistics, so that every code path matters
        if "bias" in w.path or "beta" in w.path or "moving_mean" in w.path:
            w.assign(rng.normal(0, 0.1, w.shape).astype("float32"))
        elif "moving_variance" in w.path or "gamma" in w.path:
            w.assign(rng.uniform(0.5, 1.5, w.shape).astype("float32"))
    return model


def tiny_input(seed: int = 0, n: int = 6, shape=(12, 12, 2)) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, *shape)).astype(np.float32)


#: largest agreement error (max |ΔR| / max(1, max |R|)) between two backends or machines
AGREEMENT_TOL = 1e-4

#: explain()'s ``precision`` in every check unless told otherwise: full float32, TensorFloat-32 off
PRECISION = PRECISIONS[0]


def _explain(method, model, x, precision=PRECISION, **kw):
    import relmask

    name = method if isinstance(method, str) else method.name
    return relmask.explain(model, x, method, precision=precision, **{**FAST_PARAMS.get(name, {}), **kw})


def _setup(model, x):
    return (model if model is not None else tiny_model()), (x if x is not None else tiny_input())


def check_shape(method, model=None, x=None, precision=PRECISION):
    model, x = _setup(model, x)
    r = _explain(method, model, x, precision)
    assert r.shape == x.shape, f"{method}: shape {r.shape} != input shape {x.shape}"
    assert r.dtype == np.float32, f"{method}: dtype {r.dtype} is not float32"
    assert np.isfinite(r).all(), f"{method}: non-finite relevance values"


def _as_method(method):
    """The registered method of a name, or ``method`` itself (a RelevanceMethod object)."""
    import relmask

    return relmask.get_method(method) if isinstance(method, str) else method


def _batch_invariant(method) -> bool:
    return _as_method(method).batch_invariant


def check_targets(method, model=None, x=None, precision=PRECISION):
    """Per-sample targets give the same maps as explaining each sample alone."""
    if not _batch_invariant(method):
        return
    model, x = _setup(model, x)
    targets = np.arange(len(x)) % int(model.outputs[0].shape[-1])
    together = _explain(method, model, x, precision, targets=targets)
    alone = np.concatenate([_explain(method, model, x[i:i + 1], precision, targets=int(t))
                            for i, t in enumerate(targets)])
    _close(together, alone, f"{method}: per-sample targets differ from a one-by-one loop")


def check_batch_size(method, model=None, x=None, precision=PRECISION):
    if not _batch_invariant(method):
        return
    model, x = _setup(model, x)
    _close(_explain(method, model, x, precision, batch_size=len(x)),
           _explain(method, model, x, precision, batch_size=4),
           f"{method}: result depends on batch_size")


def check_determinism(method, model=None, x=None, precision=PRECISION):
    model, x = _setup(model, x)
    a, b = _explain(method, model, x, precision), _explain(method, model, x, precision)
    assert np.array_equal(a, b), f"{method}: two identical calls differ (max {np.abs(a - b).max():.3g})"


def check_conservation(method, model=None, x=None, precision=PRECISION, rtol: float = 1e-4):
    """Where ``method.conserves``: input relevance sums to the explained logit on a bias-free ReLU net."""
    from relmask.relevance._autodiff import matmul_precision
    from relmask.relevance.graph import logits

    if not _as_method(method).conserves:
        return
    model = model if model is not None else tiny_model(bias=False)
    x = x if x is not None else tiny_input()
    with matmul_precision(precision):  # the logit at the maps' precision (TF32 alone is off by ~3e-4 on a GPU)
        z = np.asarray(logits(model, x))
    t = z.argmax(-1)
    sums = _explain(method, model, x, precision, targets=t).reshape(len(x), -1).sum(1)
    zt = z[np.arange(len(x)), t]
    err = np.abs(sums - zt).max() / np.abs(zt).max()
    assert err <= rtol, f"{method}: relevance sums differ from the logit by {err:.3g} (relative) > {rtol}"


def write_reference(folder, methods, model=None, x=None) -> Path:
    """Save ``model``, ``x`` and ``methods``' maps on this process's backend to ``folder``, for
    :func:`compare_with_reference` on another backend or machine (e.g. TF on a CPU, JAX on a GPU)."""
    import keras

    model, x = _setup(model, x)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    atomic_save_npy(folder / "x.npy", x)
    methods = [methods] if isinstance(methods, str) else list(methods)
    for name in methods:
        atomic_save_npy(folder / "maps" / f"{name}.npy", _explain(name, model, x))
    # written last: a folder with reference.json is complete
    write_json(folder / "reference.json", {"methods": methods, "fast_params": FAST_PARAMS,
                                           "backend": keras.backend.backend(), "device": compute_device(),
                                           "keras": keras.__version__})
    return folder


def compare_with_reference(folder, methods=None, precision=PRECISION, only_shared: bool = False) -> dict:
    """Recompute a :func:`write_reference` folder's maps on this backend: {method: max |ΔR| / max(1, max |R|)}.

    ``methods`` None: every method of the reference. A method the reference lacks is an error, unless
    ``only_shared`` (then it is left out: e.g. tf-explain's methods when the reference was made on JAX).
    """
    import keras

    folder = Path(folder)
    spec = read_json(folder / "reference.json")
    if spec is None:
        raise ParameterError(f"{folder} is not a reference folder (no reference.json): write one with "
                             f"`relmask check --write-reference {folder}`")
    if methods is None:
        methods = spec["methods"]
    missing = [m for m in methods if m not in spec["methods"]]
    if missing and not only_shared:
        raise ParameterError(f"methods {missing} are not in the reference {folder} (it has: "
                             f"{', '.join(spec['methods'])})")
    model = keras.saving.load_model(folder / "model.keras", compile=False)
    x = np.load(folder / "x.npy")
    errors = {}
    for name in (m for m in methods if m in spec["methods"]):
        ref = np.load(folder / "maps" / f"{name}.npy")
        got = _explain(name, model, x, precision)
        errors[name] = float(np.abs(got - ref).max() / max(1.0, float(np.abs(ref).max())))
    return errors


def check_backend_agreement(methods, model=None, x=None, atol: float = AGREEMENT_TOL,
                            timeout: float = 600) -> dict:
    """Run ``methods`` in this process (TF) and in one ``KERAS_BACKEND=jax`` subprocess; returns {name: max err}."""
    with tempfile.TemporaryDirectory() as tmp:
        write_reference(tmp, methods, model, x)
        env = {**os.environ, "KERAS_BACKEND": "jax"}
        cmd = [sys.executable, "-m", "relmask", "check", "--reference", tmp, "--agreement-only",
               "--json", str(Path(tmp) / "errors.json")]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        errors = read_json(Path(tmp) / "errors.json")
        if errors is None:
            raise AssertionError(f"JAX subprocess failed:\n{proc.stderr[-3000:]}")
    bad = {k: v for k, v in errors.items() if v > atol}
    assert not bad, f"TF and JAX disagree (max error relative to max |R|): {bad}"
    return errors


def conformance_checks() -> list:
    """The in-process checks, for ``pytest.mark.parametrize``."""
    return [check_shape, check_targets, check_batch_size, check_determinism, check_conservation]


def check_method(method, model=None, x=None, raise_errors: bool = True, precision=PRECISION) -> dict:
    results = {}
    for check in conformance_checks():
        try:
            check(method, model, x, precision)
            results[check.__name__] = "ok"
        except AssertionError as exc:
            if raise_errors:
                raise
            results[check.__name__] = str(exc)
    return results


def _close(a, b, msg, rtol=1e-4):
    scale = max(1e-6, float(np.abs(b).max()))
    err = float(np.abs(a - b).max()) / scale
    assert err <= rtol, f"{msg} (max error {err:.3g} relative to max |R|)"


def _methods_here() -> list[str]:
    """Registered model-based methods that support this process's Keras backend."""
    import keras

    import relmask

    return [m for m in relmask.list_methods() if relmask.get_method(m).needs_model
            and keras.backend.backend() in relmask.get_method(m).backends]


def add_subcommand(sub) -> None:
    """``relmask check``: the kit from the shell, e.g. on a GPU machine (see the module docstring)."""
    p = sub.add_parser("check", help="run the relevance-method conformance kit on this backend (a table)",
                       description="Run every conformance check (shape, per-sample targets, batch size, "
                                   "determinism, conservation) on the registered model-based methods of this "
                                   "process's Keras backend and print a table; exit status 1 on a failure. With "
                                   "--reference, also compare with maps written elsewhere by --write-reference "
                                   "(another backend or machine). See docs/relevance.md.")
    p.add_argument("--methods", help="comma-separated method names (default: every method of this backend; with "
                                     "--agreement-only: every method of the reference)")
    p.add_argument("--precision", default=PRECISION, choices=PRECISIONS,
                   help="explain()'s matmul precision in every check (default: highest)")
    p.add_argument("--reference", metavar="DIR", help="also compare with the maps of a --write-reference folder")
    p.add_argument("--agreement-only", action="store_true",
                   help="with --reference: only recompute its maps and print each method's error")
    p.add_argument("--write-reference", metavar="DIR",
                   help="instead of checking: write a tiny model, an input batch and the methods' maps to DIR")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.set_defaults(func=cmd_check)


def cmd_check(args) -> int:
    from relmask.errors import UnknownNameError
    from relmask.plugin_system.kinds import METHODS
    from relmask.plugin_system.plugins import registry

    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    try:
        for name in methods or []:  # a typo is one line before any work, not a table of FAILs
            registry(METHODS).get(name)
    except UnknownNameError as exc:
        print(f"relmask: error: --methods: {exc}", file=sys.stderr)
        return 2
    try:
        if args.write_reference:
            if args.reference or args.agreement_only:
                raise ParameterError("--write-reference writes a reference; it cannot be combined with "
                                     "--reference or --agreement-only")
            methods = methods or _methods_here()
            write_reference(args.write_reference, methods)
            print(f"wrote {len(methods)} maps to {args.write_reference}")
            return 0
        if args.agreement_only:
            if not args.reference:
                raise ParameterError("--agreement-only needs --reference DIR")
            out = compare_with_reference(args.reference, methods, args.precision)
            for name, err in out.items():
                print(f"{name}: {err:.2e}")
            failed = any(v > AGREEMENT_TOL for v in out.values())
        else:
            out, failed = _check_table(methods or _methods_here(), args.reference, args.precision)
    except ParameterError as exc:
        print(f"relmask: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        write_json(args.json, out)
    return 1 if failed else 0


def _check_table(names: list[str], reference, precision) -> tuple[dict, bool]:
    """Every check on every method, as a Markdown table on stdout; ({method: {check: "ok" | message}}, failed)."""
    import keras

    from relmask.running.progress import progress_bar

    errors = compare_with_reference(reference, names, precision, only_shared=True) if reference else {}
    print(f"relmask conformance kit on Keras {keras.__version__}, {keras.backend.backend()} backend, "
          f"{compute_device()}, precision {precision}\n")
    header = [c.__name__.removeprefix("check_") for c in conformance_checks()]
    print("| method | " + " | ".join(header) + (" | vs reference (max error / max abs R) |" if errors else " |"))
    print("|---" * (len(header) + 1 + bool(errors)) + "|")
    out, failed = {}, False
    for name in progress_bar(names, desc="methods", disable=None):
        try:
            results = check_method(name, raise_errors=False, precision=precision)
        except Exception as exc:  # noqa: BLE001 - a method that crashes fails every check; the table goes on
            results = {c.__name__: f"{type(exc).__name__}: {exc}" for c in conformance_checks()}
        failed |= any(v != "ok" for v in results.values())
        cells = ["ok" if v == "ok" else "FAIL" for v in results.values()]
        if name in errors:
            cells.append(f"{errors[name]:.1e}" + ("" if errors[name] <= AGREEMENT_TOL else " FAIL"))
            failed |= errors[name] > AGREEMENT_TOL
        elif errors:
            cells.append("—")
        print(f"| {name} | " + " | ".join(cells) + " |")
        out[name] = {**results, **({"reference": errors[name]} if name in errors else {})}
    for name, res in out.items():  # the messages of the failures, below the table
        for check_name, msg in res.items():
            if check_name != "reference" and msg != "ok":
                print(f"- {name} {check_name}: {msg}")
    return out, failed
