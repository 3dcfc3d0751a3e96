"""Effect sizes (relmask.scoring.stats) and control maps (relmask.pipeline.controls), checked against plain
re-implementations and
against maps whose spatial statistics are known by construction."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from relmask.errors import ParameterError
from relmask.io import to_jsonable
from relmask.pipeline.controls import (
    CONTROLS,
    check_controls,
    control_relevance,
    correlation_length,
    leak_verdict,
    mask_only_inputs,
    permute_across_samples,
    smooth_random,
)
from relmask.scoring.stats import bootstrap_mean_ci, delong, format_effect, paired_difference


# -- DeLong ------------------------------------------------------------------------------------------------------
def naive_delong(y, score_a, score_b):
    """DeLong et al. (1988) written out: ψ over every (positive, negative) pair, O(m·n) loops, no ranks."""
    pos = [i for i in range(len(y)) if y[i] == 1]
    neg = [j for j in range(len(y)) if y[j] == 0]
    m, n = len(pos), len(neg)

    def psi(x, z):
        return 1.0 if x > z else (0.5 if x == z else 0.0)

    v10, v01, aucs = [], [], []
    for s in (score_a, score_b):
        per_pos = [sum(psi(s[i], s[j]) for j in neg) / n for i in pos]
        per_neg = [sum(psi(s[i], s[j]) for i in pos) / m for j in neg]
        v10.append(per_pos)
        v01.append(per_neg)
        aucs.append(sum(per_pos) / m)

    def cov(rows, k, j, count):
        return sum((rows[k][i] - aucs[k]) * (rows[j][i] - aucs[j]) for i in range(count)) / (count - 1)

    var = ((cov(v10, 0, 0, m) + cov(v10, 1, 1, m) - 2 * cov(v10, 0, 1, m)) / m
           + (cov(v01, 0, 0, n) + cov(v01, 1, 1, n) - 2 * cov(v01, 0, 1, n)) / n)
    return aucs[0], aucs[1], var


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_delong_matches_the_pairwise_definition(seed, ties):
    rng = np.random.default_rng(seed)
    y = (rng.random(70) < 0.4).astype(int)
    a = y * 0.8 + rng.normal(size=70)
    b = 0.6 * a + rng.normal(size=70)  # correlated with a, as two models scored on the same clips are
    if ties:  # few distinct values: many ties within and across the classes
        a, b = np.round(a * 2) / 2, np.round(b)
        assert len(np.unique(a)) < 20 and len(np.unique(b)) < 10
    auc_a, auc_b, var = naive_delong(y.tolist(), a.tolist(), b.tolist())
    d = delong(y, a, b)
    assert d["auc_a"] == pytest.approx(auc_a, abs=1e-12) and d["auc_b"] == pytest.approx(auc_b, abs=1e-12)
    assert d["diff"] == pytest.approx(auc_a - auc_b, abs=1e-12)
    assert d["se"] == pytest.approx(math.sqrt(var), rel=1e-9)
    z = (auc_a - auc_b) / math.sqrt(var)
    assert d["z"] == pytest.approx(z, rel=1e-9)
    assert d["p"] == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-9)  # two-sided normal p
    assert d["lo"] == pytest.approx(d["diff"] - 1.959964 * d["se"], abs=1e-6)
    assert d["hi"] == pytest.approx(d["diff"] + 1.959964 * d["se"], abs=1e-6)


def test_delong_p_values_are_sane():
    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.3).astype(int)
    s = y + rng.normal(size=300)
    same = delong(y, s, s.copy())
    assert same["diff"] == 0.0 and same["se"] == 0.0 and same["p"] == 1.0
    strong = delong(y, y + 0.3 * rng.normal(size=300), rng.normal(size=300))  # AUC near 1 vs near 0.5
    assert strong["auc_a"] > 0.95 and abs(strong["auc_b"] - 0.5) < 0.1
    assert strong["p"] < 1e-6 and strong["lo"] > 0
    swapped = delong(y, rng.normal(size=300), y + 0.3 * rng.normal(size=300))
    assert swapped["diff"] < 0 and swapped["hi"] < 0
    with pytest.raises(ValueError, match="both classes"):
        delong(np.ones(5), s[:5], s[:5])
    # one positive clip: its components have no variance estimate; a NaN standard error once read as p = 0
    with pytest.raises(ValueError, match="at least 2 samples of each class, got 1 positive and 4 negative"):
        delong(np.array([1, 0, 0, 0, 0]), np.array([.9, .1, .2, .3, .4]), np.array([.5, .1, .6, .3, .4]))
    two = delong(np.array([1, 1, 0, 0]), np.array([.9, .8, .1, .2]), np.array([.5, .1, .6, .3]))
    assert np.isfinite(two["se"]) and 0 <= two["p"] <= 1


# -- paired differences and the bootstrap ----------------------------------------------------------------------
def test_paired_difference_of_known_differences():
    a = {0: 0.80, 1: 0.90, 2: 0.85}
    b = {0: 0.70, 1: 0.75, 2: 0.80}
    e = paired_difference(a, b)
    assert e["differences"] == pytest.approx([0.10, 0.15, 0.05])
    assert e["mean"] == pytest.approx(0.10) and e["sd"] == pytest.approx(0.05) and e["n"] == 3
    # bootstrap means of the differences can never leave the range of the differences
    assert 0.05 - 1e-12 <= e["boot_lo"] <= e["mean"] <= e["boot_hi"] <= 0.15 + 1e-12
    # the reported interval is the wider of bootstrap and t: t with 2 degrees of freedom, 0.10 ± 4.303·0.05/√3
    half = 4.302653 * 0.05 / 3 ** 0.5
    assert e["t_lo"] == pytest.approx(0.10 - half) and e["t_hi"] == pytest.approx(0.10 + half)
    assert e["lo"] == pytest.approx(min(e["boot_lo"], e["t_lo"]))
    assert e["hi"] == pytest.approx(max(e["boot_hi"], e["t_hi"]))
    assert e["includes_zero"]  # 3 seeds of 0.05-0.15: the t interval reaches below zero
    assert format_effect(e) == f"+0.100 [{e['lo']:+.3f}, {e['hi']:+.3f}], n=3 (within noise)"
    clear = paired_difference({s: 0.9 for s in range(5)}, {s: 0.5 + 0.01 * s for s in range(5)})
    assert not clear["includes_zero"] and "within noise" not in format_effect(clear)
    against = paired_difference(b, a)  # the reverse comparison mirrors the interval
    assert against["mean"] == pytest.approx(-0.10)
    assert (against["lo"], against["hi"]) == pytest.approx((-e["hi"], -e["lo"]), abs=1e-3)


def test_paired_difference_within_noise_says_so():
    a = {s: 0.5 + d for s, d in enumerate([0.10, -0.12, 0.03, -0.02, 0.01])}
    b = {s: 0.5 for s in range(5)}
    e = paired_difference(a, b)
    assert e["lo"] < 0 < e["hi"] and e["includes_zero"] is True
    assert format_effect(e).endswith("n=5 (within noise)")


def test_paired_difference_pairs_by_seed_and_drops_missing_and_nan():
    a = {0: 0.9, 1: 0.8, 2: float("nan"), 3: 0.7, 7: 0.1}
    b = {0: 0.6, 1: 0.6, 2: 0.5, 3: float("nan"), 9: 0.9}
    e = paired_difference(a, b)
    assert e["n"] == 2 and e["differences"] == pytest.approx([0.3, 0.2])
    empty = paired_difference({0: 1.0}, {1: 1.0})
    assert empty["n"] == 0 and math.isnan(empty["mean"]) and format_effect(empty) == "–"


def test_a_single_seed_is_never_reported_as_an_effect():
    # one paired seed has no spread: its "interval" would be the single point, excluding zero for any nonzero
    # difference; a table must not call that an effect
    e = paired_difference({0: 0.9}, {0: 0.5})
    assert e["n"] == 1 and e["mean"] == pytest.approx(0.4)
    assert e["includes_zero"] is True and math.isnan(e["lo"]) and math.isnan(e["hi"])
    assert format_effect(e) == "+0.400, n=1 (no interval: within noise)"
    stored = json.loads(json.dumps(to_jsonable(e)))   # results.json stores NaN as null
    assert stored["lo"] is None and format_effect(stored) == format_effect(e)


def test_bootstrap_is_seeded_and_matches_the_normal_interval_for_many_values():
    v = np.random.default_rng(4).normal(1.0, 2.0, 400)
    assert bootstrap_mean_ci(v, seed=7) == bootstrap_mean_ci(v, seed=7)
    assert bootstrap_mean_ci(v, seed=7) != bootstrap_mean_ci(v, seed=8)
    lo, hi = bootstrap_mean_ci(v, seed=7)
    # for 400 normal values the percentile bootstrap approaches mean ± 1.96·sd/√n (plug-in sd); the Monte-Carlo
    # error of a 2.5 % quantile of 10,000 resamples is about 3 % of that half-width, so 8 % is a safe bound
    half = 1.959964 * v.std() / math.sqrt(len(v))
    assert (lo + hi) / 2 == pytest.approx(v.mean(), abs=0.08 * half)
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.08)
    narrow = bootstrap_mean_ci(v, level=0.5, seed=7)
    assert lo < narrow[0] < narrow[1] < hi
    assert all(math.isnan(x) for x in bootstrap_mean_ci([float("nan")]))
    assert bootstrap_mean_ci([2.0, float("nan"), 2.0]) == (2.0, 2.0)


# -- control maps -------------------------------------------------------------------------------------------------
def blobs(n_maps: int, sigma, size=64, seed=0) -> np.ndarray:
    """Non-negative (N, size, size, 1) maps: white noise blurred with ``sigma`` (per axis), shifted to min 0.

    Blurred white noise has the autocorrelation exp(-d²/4σ²), which falls to 1/e at d = 2σ; shifting keeps it.
    """
    rng = np.random.default_rng(seed)
    g = np.stack([gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap") for _ in range(n_maps)])
    return (g - g.min(axis=(1, 2), keepdims=True))[..., None].astype(np.float32)


def test_check_controls_and_unknown_names():
    assert check_controls(["smooth", "permuted"]) == ["smooth", "permuted"] and check_controls(None) == []
    with pytest.raises(ParameterError, match="'blurred'"):
        check_controls(["blurred"])
    with pytest.raises(ParameterError, match="distinct"):
        check_controls(["smooth", "smooth"])
    with pytest.raises(ParameterError, match="'nope'"):
        control_relevance(np.zeros((2, 4, 4, 1)), "nope")


def test_permuted_is_one_cycle_without_fixed_points():
    n = 12
    maps = np.arange(n, dtype=np.float32)[:, None, None, None] * np.ones((n, 5, 4, 1), np.float32)
    for seed in range(5):
        out = control_relevance(maps, "permuted", seed)
        source = out[:, 0, 0, 0].astype(int)
        assert (out == source[:, None, None, None]).all()            # whole maps moved, none mixed
        assert sorted(source) == list(range(n))                       # a permutation of the maps
        assert not (source == np.arange(n)).any()                     # no sample keeps its own map
        seen, i = set(), 0
        while i not in seen:
            seen.add(i)
            i = source[i]
        assert len(seen) == n                                         # a single cycle through all samples
    assert not np.array_equal(permute_across_samples(maps, 0), permute_across_samples(maps, 1))
    np.testing.assert_array_equal(permute_across_samples(maps[:2], 3)[:, 0, 0, 0], [1, 0])
    with pytest.raises(ParameterError, match="at least 2"):
        permute_across_samples(maps[:1])


def test_shuffled_keeps_each_histogram_and_loses_the_placement():
    maps = blobs(4, 2.0, size=32)
    out = control_relevance(maps, "shuffled", 3)
    assert out.shape == maps.shape
    for i in range(len(maps)):
        np.testing.assert_array_equal(np.sort(out[i], axis=None), np.sort(maps[i], axis=None))
    assert (correlation_length(out) <= 2).all() and (correlation_length(maps) >= 3).all()


def test_correlation_length_of_blurred_noise_is_twice_sigma_per_axis():
    # The measured length is the first whole lag below 1/e, i.e. the true 2σ rounded up: within [2σ, 2σ + 1)
    # up to sampling error, so the mean over 16 maps must lie within one lag of 2σ. One 64-px map holds only
    # about ten blobs of σ = 3 along an axis, so a single map's estimate can be off by a third; the per-map
    # bound (half of 2σ, at least 2 lags) only catches gross errors such as a wrong axis or a missed crossing.
    for sigma in (2.0, 3.0, (1.0, 3.0)):
        expected = 2 * np.broadcast_to(np.asarray(sigma, dtype=float), (2,))
        length = correlation_length(blobs(16, sigma, seed=1))
        assert length.shape == (16, 2)
        assert (np.abs(length.mean(axis=0) - expected) <= 1.0).all(), (sigma, length.mean(axis=0))
        assert (np.abs(length - expected) <= np.maximum(2.0, expected / 2)).all(), (sigma, length)
    white = np.random.default_rng(2).random((8, 64, 64, 1))
    assert (correlation_length(white) == 1).all()                   # correlation gone at the first lag


@pytest.mark.parametrize("value", [0.0, 0.1, 1 / 3, 7.0])
def test_correlation_length_of_a_constant_map_is_zero(value):
    for shape in [(3, 48, 48, 1), (3, 65, 59, 1), (3, 20, 20)]:
        assert (correlation_length(np.full(shape, value, np.float32)) == 0).all()
    assert smooth_random(np.full((2, 8, 8, 1), value, np.float32)).tolist() == \
        np.full((2, 8, 8, 1), value, np.float32).tolist()


def test_smooth_keeps_values_and_blob_size():
    maps = blobs(16, 2.0, seed=5)
    out = smooth_random(maps, seed=1)
    assert out.shape == maps.shape and out.dtype == np.float32
    np.testing.assert_array_equal(smooth_random(maps, seed=1), out)   # seeded
    for i in range(len(maps)):
        np.testing.assert_array_equal(np.sort(out[i], axis=None), np.sort(maps[i], axis=None))
        assert abs(np.corrcoef(out[i].ravel(), maps[i].ravel())[0, 1]) < 0.3   # random placement
    real, ctrl = correlation_length(maps), correlation_length(out)
    # each measurement is rounded up to a whole lag (see above), so one map's two lengths may differ by two;
    # over 16 maps the sampling noise averages out and the mean lengths agree within half a lag
    assert (np.abs(ctrl - real) <= 2).all()
    assert (np.abs(ctrl.mean(axis=0) - real.mean(axis=0)) <= 0.5).all(), (real.mean(0), ctrl.mean(0))
    white = np.random.default_rng(0).random((8, 64, 64, 1)).astype(np.float32)
    assert (correlation_length(smooth_random(white, seed=2)) <= 2).all()   # noise stays short-range


def test_smooth_matches_the_blob_size_of_signed_maps():
    # Signed maps (LRP, gradient×input) are masked by |R|. The control's values are placed by the rank of a
    # Gaussian field, so that field must have the correlation of R itself, not of |R| (which is shorter): else
    # the control's |R| blobs come out smaller than the real ones.
    rng = np.random.default_rng(6)
    signed = np.stack([gaussian_filter(rng.standard_normal((64, 64)), 3.0, mode="wrap")
                       for _ in range(16)])[..., None].astype(np.float32)
    out = smooth_random(signed, seed=1)
    real, ctrl = correlation_length(signed), correlation_length(out)   # both measured on |R|
    assert (np.abs(ctrl.mean(axis=0) - real.mean(axis=0)) <= 0.5).all(), (real.mean(0), ctrl.mean(0))


def test_every_control_keeps_shape_and_dtype():
    maps = blobs(3, 1.5, size=16)
    for c in CONTROLS:
        out = control_relevance(maps, c, 0)
        assert out.shape == maps.shape and out.dtype == np.float32, c
        assert not np.array_equal(out, maps), c


def test_mask_only_inputs_lie_in_unit_range():
    r = np.random.default_rng(1).normal(size=(4, 6, 6, 1)) * np.array([1, 10, 1e-3, 0])[:, None, None, None]
    x = mask_only_inputs(r)
    assert x.shape == r.shape and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    np.testing.assert_allclose(x[:3].max(axis=(1, 2, 3)), 1.0)          # each map scaled by its own peak |R|
    np.testing.assert_allclose(x[1], np.abs(r[1]) / np.abs(r[1]).max(), rtol=1e-6)
    assert (x[3] == 0).all()                                           # an all-zero map stays zero, no NaN


def test_leak_verdict_both_ways():
    leak = leak_verdict(0.60, 0.45, chance=1 / 7)
    assert leak["leak"] is True and leak["text"].startswith("LEAK")
    assert leak["above_chance"] == pytest.approx(0.60 - 1 / 7)
    fine = leak_verdict(0.44, 0.45, chance=1 / 7)
    assert fine["leak"] is False and fine["text"].startswith("no leak")
    edge = leak_verdict(0.45 + 0.05, 0.45, chance=0.5)                  # exactly at the margin: not a leak
    assert edge["leak"] is False
    assert leak_verdict(0.9, 0.45, 0.5, margin=0.5)["leak"] is False
    assert leak_verdict(float("nan"), 0.45, 0.5)["leak"] is False
    # a label-free training rule cannot leak the label: a high score then says the maps carry information
    free = leak_verdict(0.60, 0.45, chance=1 / 7, uses_label=False)
    assert free["leak"] is False and free["text"].startswith("no leak possible")
    assert "class information of their own" in free["text"]
    assert "class information" not in leak_verdict(0.40, 0.45, 1 / 7, uses_label=False)["text"]
