"""The whale domain: synthetic generator, Kaggle/folder loader with broken files, caching, parameters."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import relmask
from relmask.errors import DataError, ParameterError
from relmask_plugins.whale import synthetic
from relmask_plugins.whale.audio import read_clip, read_labels

WHALE = relmask.get_domain("whale")


def test_generator_is_deterministic_and_has_the_class_share():
    a, b = synthetic.generate(60, seed=3), synthetic.generate(60, seed=3)
    assert a["waveforms"].shape == (60, 4000) and a["waveforms"].dtype == np.float32
    np.testing.assert_array_equal(a["waveforms"], b["waveforms"])
    assert a["labels"].sum() == round(0.23 * 60)
    assert not np.array_equal(a["waveforms"], synthetic.generate(60, seed=4)["waveforms"])
    assert synthetic.generate(40, seed=0, positive_share=0.5)["labels"].sum() == 20
    # call metadata exactly where there is a call, inside the documented ranges
    pos = a["labels"] == 1
    assert np.isfinite(a["call_f0"][pos]).all() and np.isnan(a["call_f0"][~pos]).all()
    assert (a["call_f0"][pos] >= 50).all() and (a["call_f0"][pos] <= 120).all()
    assert (a["call_f1"][pos] >= 150).all() and (a["call_f1"][pos] <= 250).all()
    assert (a["call_duration"][pos] >= 0.5).all() and (a["call_duration"][pos] <= 1.5).all()
    assert (a["call_t0"][pos] + a["call_duration"][pos] <= 2.0 + 1e-9).all()
    assert np.abs(a["waveforms"]).max() <= 0.9 + 1e-6


def test_up_call_energy_rises_in_the_call_band():
    # a loud call: the frequency of the strongest 50-260 Hz bin rises from the call's start to its end
    from relmask_plugins.whale.spectrogram import SpectrogramConfig, spectrogram

    d = synthetic.generate(30, seed=1, positive_share=1.0, snr_db=(15.0, 15.0), max_confounders=0)
    cfg = SpectrogramConfig(standardize="none")
    spec, f, t = spectrogram(d["waveforms"], cfg), cfg.freqs(), cfg.times(4000)
    band = (f >= 40) & (f <= 260)
    for i in range(len(d["labels"])):
        t0, dur = d["call_t0"][i], d["call_duration"][i]
        early = np.argmin(np.abs(t - (t0 + 0.15 * dur)))
        late = np.argmin(np.abs(t - (t0 + 0.85 * dur)))
        peak_early, peak_late = (f[band][np.argmax(spec[i, band, k])] for k in (early, late))
        assert peak_late > peak_early + 20, (i, peak_early, peak_late)


def test_synthetic_source_shapes_cache_and_extras(tmp_path):
    ds = WHALE.load("synthetic", n_clips=50, seed=2, cache_dir=str(tmp_path))
    assert ds.x.shape == (50, 65, 59, 1) and ds.x.dtype == np.float32
    assert ds.class_names == ["no_call", "upcall"] and ds.y.sum() == round(0.23 * 50)
    assert ds.waveforms.shape == (50, 4000) and ds.sample_rate == 2000
    assert len(ds.freqs) == 65 and ds.freqs[0] == 0 and ds.freqs[-1] == 500 and len(ds.times) == 59
    np.testing.assert_allclose(ds.x.mean(axis=(1, 2, 3)), 0, atol=1e-4)  # clip standardisation
    cached = list((tmp_path / "synthetic").glob("*.npz"))
    assert len(cached) == 1 and list((tmp_path / "spectrograms").glob("*.npy"))
    again = WHALE.load("synthetic", n_clips=50, seed=2, cache_dir=str(tmp_path))
    np.testing.assert_array_equal(again.x, ds.x)
    assert ds.subset([0, 1]).freqs == ds.freqs  # not sliced as if per-sample
    other = WHALE.load("synthetic", n_clips=50, seed=2, fmax=250.0, standardize="row", cache_dir=str(tmp_path))
    assert other.x.shape[1] == 33 and len(list((tmp_path / "synthetic").glob("*.npz"))) == 1
    np.testing.assert_allclose(other.x.mean(axis=2), 0, atol=1e-4)


@pytest.mark.parametrize("params, word", [({"n_clips": 0}, "n_clips"), ({"positive_share": 1.5}, "positive_share"),
                                          ({"snr_db_min": 5.0, "snr_db_max": 0.0}, "snr_db"),
                                          ({"fmax": 0.0}, "fmax"), ({"n_clip": 10}, "n_clips"),
                                          ({"standardize": "global"}, "standardize")])
def test_synthetic_parameter_errors_name_the_parameter(tmp_path, params, word):
    with pytest.raises(ParameterError, match=word):
        WHALE.load("synthetic", cache_dir=str(tmp_path), **params)


# -- Kaggle layout ---------------------------------------------------------------------------------------------
def _write(path, data, rate=2000, fmt="AIFF"):
    sf.write(path, data, rate, format=fmt, subtype="PCM_16")


@pytest.fixture
def kaggle_dir(tmp_path):
    """The Kaggle layout from generated clips: train/train1.aiff ... + train.csv."""
    d = synthetic.generate(12, seed=5, positive_share=0.5)
    root = tmp_path / "kaggle"
    (root / "train").mkdir(parents=True)
    lines = ["clip_name,label"]
    for i, (w, y) in enumerate(zip(d["waveforms"], d["labels"], strict=True), start=1):
        _write(root / "train" / f"train{i}.aiff", w)
        lines.append(f"train{i}.aiff,{y}")
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    return root, d


def test_kaggle_layout_loads_in_natural_order(kaggle_dir, tmp_path):
    root, d = kaggle_dir
    ds = WHALE.load("kaggle", str(root), cache_dir=str(tmp_path / "cache"))
    assert list(ds.ids[:3]) == ["train1.aiff", "train2.aiff", "train3.aiff"] and ds.ids[-1] == "train12.aiff"
    np.testing.assert_array_equal(ds.y, d["labels"])
    np.testing.assert_allclose(ds.waveforms, d["waveforms"], atol=1 / 2 ** 15)  # 16-bit round trip
    assert ds.x.shape == (12, 65, 59, 1) and ds.report["skipped"] == []
    assert WHALE.load("kaggle", str(root), max_clips=5, cache_dir=str(tmp_path / "cache")).x.shape[0] == 5


def test_kaggle_needs_a_path_and_says_where_to_get_the_data():
    with pytest.raises(ParameterError, match="whale-detection-challenge"):
        WHALE.load("kaggle")


BROKEN = {
    "truncated": (lambda p, w: p.write_bytes(_bytes(w)[: len(_bytes(w)) // 2]), "truncated"),
    "empty": (lambda p, w: p.write_bytes(b""), "empty"),
    "wrong_rate": (lambda p, w: _write(p, w, rate=4000), "sample rate 4000"),
    "stereo": (lambda p, w: _write(p, np.stack([w, w], axis=1)), "2 channels"),
    "garbage": (lambda p, w: p.write_bytes(np.random.default_rng(0).bytes(3000)), "not a readable"),
    "short": (lambda p, w: _write(p, w[:3000]), "3000 samples"),
}


def _bytes(w):
    import io

    buf = io.BytesIO()
    sf.write(buf, w, 2000, format="AIFF", subtype="PCM_16")
    return buf.getvalue()


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_clip_is_an_error_naming_the_file(kaggle_dir, tmp_path, kind):
    root, d = kaggle_dir
    make, problem = BROKEN[kind]
    make(root / "train" / "train7.aiff", d["waveforms"][6])
    with pytest.raises(DataError, match=problem) as err:
        WHALE.load("kaggle", str(root), cache_dir=str(tmp_path / "cache"))
    assert "train7.aiff" in str(err.value)
    ds = WHALE.load("kaggle", str(root), on_error="skip", cache_dir=str(tmp_path / "cache"))
    assert len(ds) == 11 and "train7.aiff" not in ds.ids
    (skipped,) = ds.report["skipped"]
    assert skipped["file"].endswith("train7.aiff") and problem.split()[0] in skipped["problem"]


def test_non_finite_wav_is_rejected(tmp_path):
    w = np.zeros(4000, np.float32)
    w[10] = np.nan
    sf.write(tmp_path / "a.wav", w, 2000, subtype="FLOAT")
    with pytest.raises(DataError, match="NaN") as err:
        read_clip(tmp_path / "a.wav")
    assert "a.wav" in str(err.value)


def test_label_mismatches_are_errors_or_reported(kaggle_dir, tmp_path):
    root, _ = kaggle_dir
    csv = root / "train.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([lines[0]] + [ln for ln in lines[1:] if not ln.startswith("train3.")]
                             + ["train99.aiff,1"]) + "\n")
    with pytest.raises(DataError, match=r"train99.aiff"):
        WHALE.load("kaggle", str(root), cache_dir=str(tmp_path / "c"))
    (root / "train" / "train99.aiff").write_bytes(_bytes(np.zeros(4000, np.float32)))
    with pytest.raises(DataError, match="no label") as err:  # train3.aiff is on disk but not in the CSV
        WHALE.load("kaggle", str(root), cache_dir=str(tmp_path / "c"))
    assert "train3.aiff" in str(err.value)
    (root / "train" / "train99.aiff").unlink()
    ds = WHALE.load("kaggle", str(root), on_error="skip", cache_dir=str(tmp_path / "c"))
    assert ds.report["unlabelled_files"] == ["train3.aiff"] and ds.report["missing_files"] == ["train99.aiff"]
    assert len(ds) == 11


@pytest.mark.parametrize("text, problem", [("name,label\na.wav,1\n", "header"),
                                           ("clip_name,label\na.wav,2\n", "line 2"),
                                           ("clip_name,label\na.wav,1\na.wav,0\n", "twice"),
                                           ("clip_name,label\n", "no labelled")])
def test_bad_label_csv_names_file_and_line(tmp_path, text, problem):
    (tmp_path / "labels.csv").write_text(text)
    with pytest.raises(DataError, match=problem) as err:
        read_labels(tmp_path / "labels.csv")
    assert "labels.csv" in str(err.value)


def test_plain_folder_of_wav_clips_with_a_csv(tmp_path):
    d = synthetic.generate(6, seed=9, positive_share=0.5)
    folder = tmp_path / "clips"
    folder.mkdir()
    for i, w in enumerate(d["waveforms"]):
        _write(folder / f"clip_{i}.wav", w, fmt="WAV")
    (folder / "labels.csv").write_text("clip_name,label\n" + "".join(f"clip_{i}.wav,{y}\n"
                                                                    for i, y in enumerate(d["labels"])))
    ds = WHALE.load("kaggle", str(folder), cache_dir=str(tmp_path / "c"))
    assert len(ds) == 6 and ds.report["labels_csv"].endswith("labels.csv")
    np.testing.assert_array_equal(ds.y, d["labels"])
    (folder / "other.csv").write_text("clip_name,label\n")
    with pytest.raises(DataError, match="labels_csv"):
        WHALE.load("kaggle", str(folder), cache_dir=str(tmp_path / "c"))
    assert len(WHALE.load("kaggle", str(folder), labels_csv="labels.csv", cache_dir=str(tmp_path / "c"))) == 6


def test_kaggle_cache_notices_a_changed_file(kaggle_dir, tmp_path):
    root, d = kaggle_dir
    cache = str(tmp_path / "cache")
    first = WHALE.load("kaggle", str(root), cache_dir=cache)
    _write(root / "train" / "train1.aiff", d["waveforms"][1])
    second = WHALE.load("kaggle", str(root), cache_dir=cache)
    assert not np.array_equal(first.waveforms[0], second.waveforms[0])
    np.testing.assert_allclose(second.waveforms[0], d["waveforms"][1], atol=1 / 2 ** 15)
