"""Every deterministic built-in method reproduces its stored golden map on a seeded model.

Regenerate (only for an intended change of a method's output): ``python -m tests.golden.regenerate``.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")

import relmask  # noqa: F401  (registers the built-in methods the golden maps cover)
from relmask_plugins.relevance.lrp import COMPAT
from tests.golden import regenerate as golden

#: registered built-ins without a golden map, and why (a new method must be added to one of the two lists)
NOT_GOLDEN: dict[str, str] = {
    **{name: "checked against the reference toolboxes' stored maps "
             "(tests/plugins/test_relevance_reference_toolboxes.py)"
       for name, *_ in COMPAT},
}


@pytest.fixture(scope="module")
def recomputed():
    model, x, targets = golden.load()
    return golden.compute(model, x, targets)


@pytest.fixture(scope="module")
def stored():
    with np.load(golden.HERE / "maps.npz") as f:
        return {k: f[k] for k in f.files}


def test_every_builtin_method_has_a_golden_map(stored):
    from relmask_plugins.relevance import builtin_methods

    covered = {golden.method_name(k) for k in stored}
    missing = {m.name for m in builtin_methods()} - covered - set(NOT_GOLDEN)
    assert not missing, f"built-in methods without a golden map: {sorted(missing)} (add them to " \
                        "tests/golden/regenerate.py METHODS and regenerate)"
    assert set(stored) == set(golden.METHODS)


def test_golden_files_are_small():
    total = sum(p.stat().st_size for p in golden.HERE.glob("*.npz"))
    assert total < 1_000_000


@pytest.mark.parametrize("key", list(golden.METHODS))
def test_matches_golden_map(key, recomputed, stored):
    want, got = stored[key], recomputed[key]
    assert got.shape == want.shape and got.dtype == np.float32
    scale = float(np.abs(want).max())
    assert scale > 0, f"{key}: the golden map is all zeros (a useless golden)"
    # rtol 1e-4 plus an absolute slack of 1e-5 of the map's range: float32 reassociation across machines
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale, err_msg=f"{key} differs from its golden map")


def test_golden_maps_differ_between_methods(stored):
    """Guards against a regeneration that silently wrote the same map for every method."""
    flat = {k: v.ravel() / np.abs(v).max() for k, v in stored.items()}
    assert not np.allclose(flat["lrp.z_plus"], flat["lrp.epsilon"])
    assert not np.allclose(flat["gradient"], flat["gradient_x_input"])
