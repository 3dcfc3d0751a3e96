"""The relevance benchmarks: target checks on hand-made rows, and a tiny real run of each script."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

from tests.conftest import ROOT

BENCH = ROOT / "benchmarks"


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_relevance", BENCH / "relevance.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(method, ratio):
    return {"method": method, "ratio": ratio, "ms_per_1000": 1000.0 * ratio, "floor_ms_per_1000": 1000.0,
            "rounds": 5, "peak_mib": 1.0, "first_call_s": 0.1}


def test_targets_are_checked_on_paired_ratios():
    bench = _bench_module()
    occ, tfx = f"occlusion (window=stride={bench.WINDOW})", f"tfexplain.occlusion (internal, patch={bench.WINDOW})"
    rows = [_row("gradient", 1.0), _row("gradcam", 0.4), _row("lrp.epsilon", 1.1), _row("lrp.alpha_beta", 1.6),
            _row(occ, 20.0), _row(tfx, 70.0)]
    checks = {name: (ok, measured) for name, ok, measured in bench.targets(rows)}
    assert checks["every LRP method ≤ 1.5× the gradient floor"] == (False, "slowest lrp.alpha_beta: 1.60×; 1 of 2 "
                                                                            "within")
    assert checks["Grad-CAM ≤ 1.2× the gradient floor"][0]
    assert checks["relmask occlusion ≥ 3× faster than tf-explain's"] == (True, "3.5× faster")
    # timed side by side in one process, the duel decides (the rows' ratio of floor ratios is shown beside it)
    duel = {**_row(tfx, 2.9), "against": occ}
    checks = {name: (ok, measured) for name, ok, measured in bench.targets(rows, duel)}
    assert checks["relmask occlusion ≥ 3× faster than tf-explain's"] == (
        False, "2.9× faster side by side (3.5× from the rows' floor ratios)")
    rows[3] = _row("lrp.alpha_beta", 1.5)
    rows[5] = _row(tfx, 50.0)
    checks = {name: ok for name, ok, _ in bench.targets(rows)}
    assert checks["every LRP method ≤ 1.5× the gradient floor"]
    assert not checks["relmask occlusion ≥ 3× faster than tf-explain's"]
    assert "| lrp.epsilon | 1.100 | 1.10 | 1.000 | 5 | 1 | 0.10 |" in bench.table(rows)
    rows[2] = {**rows[2], "device_peak_mib": 12.0}  # JAX on a GPU: an accelerator-memory column appears
    assert "| lrp.epsilon | 1.100 | 1.10 | 1.000 | 5 | 1 | 12 | 0.10 |" in bench.table(rows)
    assert "accelerator peak growth (MiB)" in bench.table(rows).splitlines()[0]


def test_rows_are_selected_by_label_or_short_name():
    """Labels hold commas inside parentheses; --methods takes them whole or by the part before ' ('."""
    bench = _bench_module()
    tfx = f"tfexplain.occlusion (internal, patch={bench.WINDOW})"
    assert bench._select(f"lrp.z_plus, {tfx},occlusion") == ["lrp.z_plus", tfx,
                                                            f"occlusion (window=stride={bench.WINDOW})"]
    assert bench._select("tf-explain GradCAM().explain") == ["tf-explain GradCAM().explain (public)"]
    assert bench._select("lrp.nope") == ["lrp.nope"]  # left for main() to report as unknown


def _run(script, *args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0"}
    return subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)


def test_speed_benchmark_runs_paired_with_the_floor(tmp_path):
    out = tmp_path / "rows.json"
    proc = _run("relevance.py", "--n", "8", "--repeats", "2", "--min-seconds", "0", "--methods",
                "lrp.alpha_beta,occlusion,tfexplain.occlusion", "--precision", "default", "--json", str(out))
    assert proc.returncode in (0, 1), proc.stderr[-2000:]  # 1: a target missed (timings of 8 samples mean little)
    result = json.loads(out.read_text())
    assert result["precision"] == "default" and "precision default" in proc.stdout
    rows = result["rows"]
    bench = _bench_module()
    # the floor is always measured; each row is paired with it
    assert [r["method"] for r in rows] == ["gradient", "lrp.alpha_beta", bench.OCCLUSION, bench.TFX_OCCLUSION]
    for r in rows:
        assert r["ratio"] > 0 and r["floor_ms_per_1000"] > 0 and r["backend"] == "tensorflow"
        assert r["device"] == "cpu" and r["device_peak_mib"] is None and r["against"] == "gradient"
    # the occlusion rows are also timed against each other in one more process, which the target is judged on
    duel = result["occlusion_duel"]
    assert duel["method"] == bench.TFX_OCCLUSION and duel["against"] == bench.OCCLUSION and duel["ratio"] > 0
    assert f"{duel['ratio']:.1f}× faster side by side" in proc.stdout
    assert "every LRP method ≤ 1.5× the gradient floor" in proc.stdout


def test_profile_splits_time_by_operation():
    proc = _run("relevance_profile.py", "--n", "8", "--rounds", "1", "gradient", "lrp.alpha_beta")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Conv2DBackpropInput" in proc.stdout and "linear maps" in proc.stdout
    assert "a rule with 1.5× / 2× these linear maps costs at least" in proc.stdout
