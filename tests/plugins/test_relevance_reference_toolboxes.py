"""LRP by the reference toolboxes' names: relmask's compatibility presets against maps computed by iNNvestigate
2.1.2 and Zennit 1.0.0 themselves (``tests/reference_toolboxes/maps.npz``, written by hand with
``python -m tests.reference_toolboxes.generate``), on TensorFlow and in a ``KERAS_BACKEND=jax`` subprocess; and
the bias conventions of the ε, z⁺ and αβ rules against a naive NumPy re-implementation."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import relmask  # noqa: E402
from relmask.errors import ParameterError  # noqa: E402
from relmask_plugins.relevance.lrp import COMPAT  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.core.test_relevance_lrp import _dense_model, _params, _stab  # noqa: E402
from tests.reference_toolboxes import check  # noqa: E402

PAIRS = check.comparisons()
CASE_KEYS = sorted({k for k, _ in PAIRS})


def test_reference_file_is_small_and_covers_every_preset_and_model():
    arrays, meta = check.stored()
    assert check.MAPS.stat().st_size < 1_000_000
    maps = {k[4:] for k in arrays if k.startswith("map:")}
    methods = {c[4] for c in meta["cases"]}
    assert methods == {name for name, *_ in COMPAT}, "every compatibility preset needs a stored reference map"
    # every case on every model (with and without biases), BatchNorm included for at least one toolbox
    assert maps == {f"{c[0]}/{m}" for c in meta["cases"] for m in meta["models"]}
    assert {m for _, m in PAIRS} == set(meta["models"])
    assert any(k.startswith("zennit.") and m.startswith("cnn_bn") for k, m in PAIRS)
    for key in maps:  # a reference map of zeros would match anything
        assert np.abs(arrays[f"map:{key}"]).max() > 0, key


@pytest.mark.parametrize("key", CASE_KEYS)
def test_preset_matches_reference_toolbox(key):
    """Every model the case is stored for, biases on and off: max |relmask − ref| / max |ref| ≤ 1e-5."""
    errs = check.errors([(k, m) for k, m in PAIRS if k == key])
    assert max(errs.values()) <= check.TOL, f"{key}: {errs}"


#: the default tier's JAX model: convolutions, both poolings and Dense layers with biases, where every case and
#: its bias-ignoring variant run (each comparison compiles one JAX function; every model: the slow test below)
JAX_MODELS = ("cnn_b",)


def _jax_errors(tmp_path, models=None) -> dict:
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    out = tmp_path / "errors.json"
    cmd = [sys.executable, "-m", "tests.reference_toolboxes.check", "--json", str(out)]
    proc = subprocess.run(cmd + (["--models", ",".join(models)] if models else []), env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=1800)
    assert "jax:" in proc.stdout and out.exists(), proc.stderr[-3000:]
    errs = json.loads(out.read_text())
    assert set(errs) == {f"{k}/{m}" for k, m in PAIRS if models is None or m in models}
    bad = {k: e for k, e in errs.items() if e > check.TOL}
    assert not bad and proc.returncode == 0, f"JAX differs from the reference toolboxes: {bad}"
    return errs


def test_presets_match_reference_toolboxes_on_jax(tmp_path):
    """Every case on the conv net with biases under KERAS_BACKEND=jax, in one subprocess (the conformance kit's
    pattern)."""
    errs = _jax_errors(tmp_path, JAX_MODELS)
    assert {k.rsplit("/", 1)[0] for k in errs} == set(CASE_KEYS)


@pytest.mark.slow
def test_presets_match_reference_toolboxes_on_jax_every_model(tmp_path):
    _jax_errors(tmp_path)


def test_conventions_differ_on_the_stored_maps():
    """The bias conventions matter on these models (else the references could not tell them apart)."""
    arrays, _ = check.stored()

    def err(a, b, model="cnn_b"):
        return check.rel_error(arrays[f"map:{a}/{model}"], arrays[f"map:{b}/{model}"])

    assert err("innvestigate.lrp.alpha_1_beta_0", "innvestigate.lrp.alpha_1_beta_0_IB") > 1e-2
    assert err("innvestigate.lrp.alpha_1_beta_0", "zennit.ExcitationBackprop") > 1e-2
    assert err("innvestigate.lrp.epsilon", "innvestigate.lrp.epsilon@ignore") > 1e-2
    # without biases the conventions coincide: iNNvestigate's z⁺ is Zennit's there
    assert err("innvestigate.lrp.alpha_1_beta_0", "zennit.ExcitationBackprop", "cnn_nb") < 1e-5


# -- the bias conventions against naive NumPy ------------------------------------------------------------------
def _bias_messages(rule, a, w, b, r, bias, alpha=2.0, beta=1.0):
    """One layer's input relevance under ``bias`` (split / include / ignore), written out per connection."""
    if rule == "epsilon":
        c = a[:, None] * w
        return (c / _stab(c.sum(0) + (0.0 if bias == "ignore" else b)) * r).sum(1)
    bp, bn = {"split": (np.maximum(b, 0), np.minimum(b, 0)), "include": (b, b), "ignore": (0.0, 0.0)}[bias]
    wp, wn, ap, an = np.maximum(w, 0), np.minimum(w, 0), np.maximum(a, 0), np.minimum(a, 0)
    cp = ap[:, None] * wp + an[:, None] * wn
    mp = (cp / _stab(cp.sum(0) + bp) * r).sum(1)
    if rule == "z_plus":
        return mp
    cn = an[:, None] * wp + ap[:, None] * wn
    return alpha * mp - beta * (cn / _stab(cn.sum(0) + bn) * r).sum(1)


def _naive(model, x, target, rules, bias):
    params = _params(model)
    acts, pre = [x.astype(np.float64)], []
    for i, (w, b) in enumerate(params):
        pre.append(acts[-1] @ w + b)
        acts.append(np.maximum(pre[-1], 0) if i < len(params) - 1 else pre[-1])
    r = np.zeros_like(pre[-1])
    r[target] = pre[-1][target]
    for i in reversed(range(len(params))):
        if i < len(params) - 1:
            r = r * (pre[i] > 0)
        r = _bias_messages(rules[i], acts[i], *params[i], r, bias)
    return r


@pytest.mark.parametrize("bias", ["split", "include", "ignore"])
@pytest.mark.parametrize("method,rules", [("lrp.epsilon", ["epsilon"] * 3), ("lrp.z_plus", ["z_plus"] * 3),
                                          ("lrp.alpha_beta", ["alpha_beta"] * 3),
                                          ("lrp.epsilon_alpha2_beta1", ["epsilon"] * 3)])
def test_bias_conventions_match_naive_numpy(method, rules, bias):
    """Dense → BN (folded, so every layer has a bias) → ReLU → Dense(relu) → Dense; inputs of both signs."""
    model = _dense_model()
    x = np.random.default_rng(7).normal(size=(5, 7)).astype(np.float32)
    targets = np.array([0, 1, 2, 1, 0])
    got = relmask.explain(model, x, method, targets=targets, bias=bias)
    want = np.stack([_naive(model, x[i], targets[i], rules, bias) for i in range(len(x))])
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


def test_default_bias_conventions_are_unchanged():
    """Without ``bias``: ε includes the bias, z⁺/αβ split it (the golden maps' conventions)."""
    model = _dense_model()
    x = np.random.default_rng(8).normal(size=(3, 7)).astype(np.float32)
    for method, default in (("lrp.epsilon", "include"), ("lrp.z_plus", "split"), ("lrp.alpha_beta", "split")):
        np.testing.assert_array_equal(relmask.explain(model, x, method, targets=0),
                                      relmask.explain(model, x, method, targets=0, bias=default))


def test_bias_and_stabilizer_errors_name_the_parameter():
    model = _dense_model()
    x = np.ones((1, 7), np.float32)
    with pytest.raises(ParameterError, match="'bias' must be one of 'split', 'include', 'ignore'; got 'zero'"):
        relmask.explain(model, x, "lrp.z_plus", bias="zero")
    with pytest.raises(ParameterError, match="'bias' must be one of 'include', 'ignore'; got 'split'"):
        relmask.explain(model, x, "innvestigate.lrp.epsilon", bias="split")
    from relmask.relevance.lrp import Rule

    with pytest.raises(ParameterError, match="unknown LRP bias convention 'positive'"):
        Rule("z_plus", bias="positive")


def test_compatibility_presets_are_listed_with_their_parameters():
    meta = relmask.get_method("zennit.EpsilonPlusFlat")
    assert [p.name for p in meta.params] == ["epsilon", "stabilizer", "bias"]
    assert [p.name for p in relmask.get_method("innvestigate.lrp.alpha_2_beta_1_IB").params] == []
    assert relmask.get_method("innvestigate.lrp.sequential_preset_a").params[0].default == 0.1
    assert relmask.get_method("innvestigate.lrp.alpha_2_beta_1").conserves is False


def test_benchmark_prints_ratio_against_stored_timings(tmp_path):
    """benchmarks/lrp_toolboxes.py on one case against a stored timings.json: the row's ratio is the stored
    toolbox time over relmask's time measured now."""
    timings = tmp_path / "timings.json"
    timings.write_text(json.dumps({"toolboxes": {"zennit": {"seconds": {"zennit.EpsilonPlus": 2.0}}}}))
    rows = tmp_path / "rows.json"
    proc = subprocess.run([sys.executable, "benchmarks/lrp_toolboxes.py", "--stored-only", "--rounds", "1",
                           "--cases", "zennit.EpsilonPlus", "--timings", str(timings), "--json", str(rows)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = json.loads(rows.read_text())
    assert row["reference"] == 2.0 and row["relmask"] > 0 and row["source"].startswith("stored")
    assert f"| zennit.EpsilonPlus | zennit | {row['relmask']:.3f} | 2.000 | {2.0 / row['relmask']:.2f} |" in proc.stdout
    bad = subprocess.run([sys.executable, "benchmarks/lrp_toolboxes.py", "--stored-only", "--cases", "nope"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "--cases: unknown ['nope']" in bad.stderr
