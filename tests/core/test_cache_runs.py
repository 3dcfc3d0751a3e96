"""Run keys, the done marker, data fingerprints and provenance (no TensorFlow)."""
from __future__ import annotations

import os
from typing import ClassVar

import numpy as np

from relmask.running import provenance
from relmask.running.cache import default_cache_dir, relevance_key
from relmask.running.run_records import DONE_MARKER, finished_run, mark_finished, run_key


def test_run_key_depends_on_every_input():
    base = dict(notebook_sha256="n1", parameters={"epochs": 2, "seeds": [0, 1]}, versions={"relmask": "0.1.0"},
                data_fingerprints={})
    key = run_key(**base)
    assert run_key(**base) == key and len(key) == 16
    assert run_key(**{**base, "parameters": {"seeds": [0, 1], "epochs": 2}}) == key  # order does not matter
    for change in ({"notebook_sha256": "n2"}, {"parameters": {"epochs": 3, "seeds": [0, 1]}},
                   {"versions": {"relmask": "0.2.0"}}, {"data_fingerprints": {"data_path": "abc"}}):
        assert run_key(**{**base, **change}) != key, change


def test_relevance_key_follows_the_engine_source(monkeypatch):
    """A cached map is stale once relmask's code changes, even under the same version number."""

    class Weight:  # what model_fingerprint reads of a Keras variable
        path = "dense/kernel"

        def numpy(self):
            return np.ones((2, 2), np.float32)

    class Model:
        weights: ClassVar[list] = [Weight()]

    x = np.zeros((3, 2), np.float32)
    key = relevance_key(Model(), x, "lrp.epsilon", None, {"epsilon": 1e-6})
    assert key == relevance_key(Model(), x, "lrp.epsilon", None, {"epsilon": 1e-6})
    assert key != relevance_key(Model(), x, "lrp.epsilon", None, {"epsilon": 1e-3})
    monkeypatch.setattr(provenance, "code_fingerprint", lambda: "edited-engine")
    assert key != relevance_key(Model(), x, "lrp.epsilon", None, {"epsilon": 1e-6})


def test_done_marker_must_match_the_key(tmp_path):
    assert finished_run(tmp_path, "k1") is None
    mark_finished(tmp_path, {"key": "k1", "status": "ok"})
    assert finished_run(tmp_path, "k1") == {"key": "k1", "status": "ok", "outputs": {}}  # no results.json yet
    assert finished_run(tmp_path, "k2") is None
    (tmp_path / DONE_MARKER).write_text('{"key": "k1", "sta')  # a torn marker counts as unfinished
    assert finished_run(tmp_path, "k1") is None
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_path_fingerprint_sees_names_sizes_and_mtimes(tmp_path):
    d = tmp_path / "data"
    (d / "train").mkdir(parents=True)
    (d / "train.csv").write_text("clip_name,label\n")
    (d / "train" / "train1.aiff").write_bytes(b"x" * 10)
    fp = provenance.path_fingerprint(d)
    assert fp["exists"] and fp["files"] == 2 and fp["bytes"] == 26
    assert provenance.path_fingerprint(d) == fp
    f = d / "train" / "train1.aiff"
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    fp2 = provenance.path_fingerprint(d)
    assert fp2["fingerprint"] != fp["fingerprint"]
    (d / "train" / "train2.aiff").write_bytes(b"")
    assert provenance.path_fingerprint(d)["fingerprint"] != fp2["fingerprint"]
    single = provenance.path_fingerprint(d / "train.csv")
    assert single["files"] == 1 and single["fingerprint"]
    assert provenance.path_fingerprint(tmp_path / "nope") == {"path": str(tmp_path / "nope"), "exists": False,
                                                              "fingerprint": None, "files": 0, "bytes": 0}


def test_provenance_is_cheap_and_complete():
    versions = provenance.package_versions()
    assert versions["relmask"] and versions["numpy"] and versions["python"]
    assert set(provenance.plugin_versions()) >= {"relmask_plugins.maskers", "relmask_plugins.whale"}
    dev = provenance.device_info()
    assert dev["cpu_count"] >= 1 and dev["platform"] and isinstance(dev["gpus"], list)
    assert len(provenance.code_fingerprint()) == 16
    git = provenance.git_info()
    assert set(git) == {"commit", "dirty"}


def test_provenance_does_not_import_tensorflow():
    import subprocess
    import sys

    code = ("import sys, relmask.running.provenance as p; p.device_info(); p.package_versions(); "
            "p.plugin_versions(); import relmask.running.reproduce, relmask.running.figures; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


def test_one_default_cache_location(monkeypatch, tmp_path):
    """$RELMASK_CACHE, else ~/.cache/relmask; the whale domain's default folder is that location's whale/."""
    from relmask_plugins.whale.domain import default_cache_dir as whale_cache_dir

    monkeypatch.delenv("RELMASK_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "relmask"
    assert default_cache_dir("a", "b") == tmp_path / "home" / ".cache" / "relmask" / "a" / "b"
    assert whale_cache_dir() == tmp_path / "home" / ".cache" / "relmask" / "whale"
    monkeypatch.setenv("RELMASK_CACHE", str(tmp_path / "elsewhere"))
    assert default_cache_dir("whale") == whale_cache_dir() == tmp_path / "elsewhere" / "whale"
