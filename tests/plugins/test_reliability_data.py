"""Issue 14, data and caches: image bit depths and alpha (item 4), NaN pixels in a FER csv (5), validated cache
reads that recover from corrupt entries (8), CSVs saved with a UTF-8 byte-order mark and the FER presets' cache
folder (13)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import relmask
from relmask.errors import DataError, RelmaskWarning

ROOT = Path(__file__).resolve().parents[2]
BOM = "\ufeff"


def fer():
    return relmask.get_domain("fer")


# -- 4. bit depth and alpha ------------------------------------------------------------------------------------
def test_16_bit_png_is_scaled_by_its_bit_depth(tmp_path):
    from relmask_plugins.fer.loaders import read_image

    a = np.linspace(0, 65535, 48 * 48).reshape(48, 48).astype(np.uint16)
    Image.fromarray(a).save(tmp_path / "deep.png")
    x = read_image(tmp_path / "deep.png")
    np.testing.assert_allclose(x[..., 0], a / 65535.0, atol=1e-6)  # convert("L") made everything above 255 white
    half = read_image(tmp_path / "deep.png", size=24)
    assert half.shape == (24, 24, 1) and 0.0 <= half.min() and half.max() <= 1.0
    assert 0.45 < half.mean() < 0.55


def test_float_tiff_keeps_its_values(tmp_path):
    from relmask_plugins.fer.loaders import read_image

    a = np.linspace(0.0, 1.0, 48 * 48, dtype=np.float32).reshape(48, 48)
    Image.fromarray(a).save(tmp_path / "unit.tif")
    np.testing.assert_allclose(read_image(tmp_path / "unit.tif")[..., 0], a, atol=1e-6)
    Image.fromarray(a * 255).save(tmp_path / "byte_range.tif")
    np.testing.assert_allclose(read_image(tmp_path / "byte_range.tif")[..., 0], a, atol=1e-5)
    rgb = read_image(tmp_path / "unit.tif", grayscale=False)
    assert rgb.shape == (48, 48, 3) and np.allclose(rgb[..., 2], a, atol=1e-6)
    Image.fromarray(a * 1000 - 5).save(tmp_path / "raw.tif")
    with pytest.raises(DataError, match=r"raw.tif: float image with values in \[-5, 995\]"):
        read_image(tmp_path / "raw.tif")


def test_eight_bit_images_read_as_before(tmp_path):
    from relmask_plugins.fer.loaders import read_image

    a = np.random.default_rng(0).integers(0, 256, (60, 60, 3)).astype(np.uint8)
    Image.fromarray(a).save(tmp_path / "rgb.png")
    with Image.open(tmp_path / "rgb.png") as im:
        expected = np.asarray(im.convert("L").resize((48, 48), Image.Resampling.BILINEAR), np.float32) / 255
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.png")[..., 0], expected)


def test_alpha_is_composited_over_black_and_reported(tmp_path):
    from relmask_plugins.fer.loaders import read_image

    rgba = np.zeros((48, 48, 4), np.uint8)
    rgba[..., :3] = 255          # white everywhere ...
    rgba[:, :24, 3] = 0          # ... but the left half fully transparent
    rgba[:, 24:, 3] = 255
    folder = tmp_path / "set" / "happy"
    folder.mkdir(parents=True)
    Image.fromarray(rgba, "RGBA").save(folder / "cutout.png")
    Image.new("L", (48, 48), 200).save(folder / "plain.png")
    x = read_image(folder / "cutout.png")
    assert (x[:, :24] == 0).all() and np.allclose(x[:, 24:], 1.0)  # convert("L") dropped alpha: all white
    with pytest.warns(RelmaskWarning, match=r"1 images have transparent pixels \(first: happy/cutout.png\).*black"):
        ds = fer().load("folder", path=str(tmp_path / "set"))
    assert ds.report["alpha_composited"] == ["happy/cutout.png"]


# -- 5. NaN pixels in a FER2013 csv ----------------------------------------------------------------------------
def _csv(path, rows, bom=False):
    path.write_text((BOM if bom else "") + "emotion,pixels,Usage\n" + "".join(f"{r}\n" for r in rows))
    return path


def _row(label, values):
    return f"{label},{' '.join(values)},Training"


def test_nan_pixels_name_file_and_line_and_are_skippable(tmp_path):
    good = ["100"] * 2304
    bad = ["100"] * 2303 + ["nan"]
    path = _csv(tmp_path / "fer2013.csv", [_row(0, good), _row(1, good), _row(2, bad), _row(3, ["inf", *good[1:]])])
    with pytest.raises(DataError, match=r"fer2013.csv:4: 1 pixel values are NaN or infinite"):
        fer().load("fer2013", path=str(path))
    ds = fer().load("fer2013", path=str(path), on_error="skip")
    assert len(ds) == 2 and np.isfinite(ds.x).all()
    assert [s["path"].rsplit(":", 1)[1] for s in ds.report["skipped"]] == ["4", "5"]


# -- 13. UTF-8 byte-order mark ---------------------------------------------------------------------------------
def test_fer_csv_with_a_byte_order_mark(tmp_path):
    path = _csv(tmp_path / "fer2013.csv", [_row(3, ["7"] * 2304)], bom=True)
    ds = fer().load("fer2013", path=str(path))
    assert ds.y.tolist() == [3] and ds.usage.tolist() == ["Training"]


def test_whale_labels_csv_with_a_byte_order_mark(tmp_path):
    from relmask_plugins.whale.audio import read_labels

    path = tmp_path / "train.csv"
    path.write_text(BOM + "clip_name,label\ntrain1.aiff,1\ntrain2.aiff,0\n", encoding="utf-8")
    assert read_labels(path) == {"train1.aiff": 1, "train2.aiff": 0}
    path.write_bytes(b"clip_name,label\n\xff\xfe,1\n")
    with pytest.raises(DataError, match=r"train.csv: label file is not UTF-8 text"):
        read_labels(path)


def test_fer_presets_leave_the_cache_to_reproduce():
    """reproduce fills cache_dir with <out>/cache only where it is None (docs/reproduce.md)."""
    import relmask

    for experiment in ("fer", "whale"):
        for name in ("quick", "full"):
            preset = yaml.safe_load(relmask.get_experiment(experiment).preset(name).read_text())
            assert "cache_dir" in preset and preset["cache_dir"] is None, (experiment, name)


# -- 8. validated cache reads ----------------------------------------------------------------------------------
@pytest.fixture
def counted_explain(monkeypatch):
    """cached_explain with a fake, counted explain() and a fixed key (no Keras needed)."""
    import relmask.relevance
    import relmask.running.cache

    calls = []

    def fake_explain(model, x, method, targets=None, **params):
        calls.append(method)
        return np.asarray(x, np.float32) * 2 + 1

    monkeypatch.setattr(relmask.relevance, "explain", fake_explain)
    monkeypatch.setattr(relmask.running.cache, "relevance_key", lambda *a, **k: "key")
    return calls


def _explain(tmp_path, x):
    from relmask.running.cache import cached_explain

    return cached_explain(None, x, "gradient", cache_dir=str(tmp_path))


X = np.arange(24, dtype=np.float32).reshape(2, 3, 4)


def test_cache_entry_is_written_with_a_checksum_and_reused(tmp_path, counted_explain):
    from relmask.running.cache import checksum_path

    first = _explain(tmp_path, X)
    entry = tmp_path / "relevance" / "key.npy"
    side = json.loads(checksum_path(entry).read_text())
    assert side["bytes"] == entry.stat().st_size and len(side["sha256"]) == 64
    with warnings.catch_warnings():
        warnings.simplefilter("error", RelmaskWarning)
        np.testing.assert_array_equal(_explain(tmp_path, X), first)
    assert counted_explain == ["gradient"]


def _corrupt_truncated(entry):
    entry.write_bytes(entry.read_bytes()[:-20])


def _corrupt_zeros(entry):
    np.save(entry, np.zeros_like(X))  # a valid .npy, but not what was written


def _corrupt_wrong_shape(entry):
    from relmask.running.cache import save_cached_array

    save_cached_array(entry, np.ones((2, 12)))  # consistent checksum, wrong shape


def _corrupt_nan(entry):
    from relmask.running.cache import save_cached_array

    save_cached_array(entry, np.full(X.shape, np.nan, np.float32))


def _corrupt_int(entry):
    from relmask.running.cache import save_cached_array

    save_cached_array(entry, np.ones(X.shape, np.int64))


def _no_checksum(entry):
    from relmask.running.cache import checksum_path

    checksum_path(entry).unlink()


@pytest.mark.parametrize("corrupt,reason", [
    (_corrupt_truncated, "checksum mismatch"), (_corrupt_zeros, "checksum mismatch"),
    (_corrupt_wrong_shape, r"shape \(2, 12\), expected \(2, 3, 4\)"), (_corrupt_nan, "24 NaN/inf values"),
    (_corrupt_int, "dtype int64"), (_no_checksum, "no checksum file key.npy.sha256"),
])
def test_a_bad_relevance_cache_entry_is_recomputed_with_a_warning(tmp_path, counted_explain, corrupt, reason):
    expected = _explain(tmp_path, X)
    entry = tmp_path / "relevance" / "key.npy"
    corrupt(entry)
    with pytest.warns(RelmaskWarning, match=rf"{entry}: {reason}.*recomputed"):
        np.testing.assert_array_equal(_explain(tmp_path, X), expected)
    assert counted_explain == ["gradient", "gradient"]
    with warnings.catch_warnings():  # rewritten: the next read is clean
        warnings.simplefilter("error", RelmaskWarning)
        np.testing.assert_array_equal(_explain(tmp_path, X), expected)
    assert len(counted_explain) == 2


def test_truncated_whale_caches_are_recomputed(tmp_path):
    whale = relmask.get_domain("whale")
    first = whale.load("synthetic", n_clips=20, seed=4, cache_dir=str(tmp_path))
    clips = next((tmp_path / "synthetic").glob("*.npz"))
    spec = next((tmp_path / "spectrograms").glob("*.npy"))
    clips.write_bytes(clips.read_bytes()[: clips.stat().st_size // 2])  # BadZipFile before
    spec.write_bytes(spec.read_bytes()[:100])
    with pytest.warns(RelmaskWarning) as record:
        again = whale.load("synthetic", n_clips=20, seed=4, cache_dir=str(tmp_path))
    named = " ".join(str(w.message) for w in record)
    assert str(clips) in named and str(spec) in named
    np.testing.assert_array_equal(again.x, first.x)
    np.testing.assert_array_equal(again.waveforms, first.waveforms)


def test_whale_clip_cache_of_the_wrong_size_is_recomputed(tmp_path):
    from relmask.running.cache import save_cached_arrays

    whale = relmask.get_domain("whale")
    first = whale.load("synthetic", n_clips=20, seed=4, cache_dir=str(tmp_path))
    clips = next((tmp_path / "synthetic").glob("*.npz"))
    save_cached_arrays(clips, {"waveforms": np.zeros((3, 4000), np.float32), "labels": np.zeros(3, np.int64)})
    with pytest.warns(RelmaskWarning, match=r"waveforms' has shape \(3, 4000\), expected \(20, samples\)"):
        again = whale.load("synthetic", n_clips=20, seed=4, cache_dir=str(tmp_path))
    np.testing.assert_array_equal(again.waveforms, first.waveforms)
