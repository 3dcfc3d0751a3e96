"""Precomputed inputs (relmask.pipeline.data.load_feature_arrays and the whale/fer ``features`` sources), the whale
``images`` source, the one image reader (relmask.io.read_image) and FER csv text encodings."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import relmask
from relmask.errors import DataError, ParameterError
from relmask.io import read_image
from relmask.pipeline.data import load_feature_arrays


def whale():
    return relmask.get_domain("whale")


def fer():
    return relmask.get_domain("fer")


def npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.fixture
def uint8_file(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6, 5, 4), dtype=np.uint8)
    x[0, 0, 0], x[1, 0, 0] = 0, 255
    return npz(tmp_path / "faces.npz", x=x, y=np.array([0, 1, 2, 0, 1, 2]),
               ids=np.array([f"s{i}" for i in range(6)]), class_names=np.array(["a", "b", "c"])), x


# -- load_feature_arrays -------------------------------------------------------------------------------------------
def test_uint8_features_are_scaled_and_get_a_channel_axis(uint8_file):
    path, x = uint8_file
    ds = load_feature_arrays(path)
    assert ds.x.shape == (6, 5, 4, 1) and ds.x.dtype == np.float32
    np.testing.assert_allclose(ds.x[..., 0], x / 255.0, rtol=1e-6)
    assert ds.x.min() == 0.0 and ds.x.max() == 1.0
    assert ds.y.tolist() == [0, 1, 2, 0, 1, 2] and ds.ids.tolist() == [f"s{i}" for i in range(6)]
    assert ds.class_names == ["a", "b", "c"]
    assert ds.report["file"] == str(path) and ds.report["arrays"]["x"] == [[6, 5, 4], "uint8"]
    assert load_feature_arrays(path, channel_axis=False).x.shape == (6, 5, 4)
    np.testing.assert_array_equal(load_feature_arrays(path, scale="none").x[..., 0], x.astype(np.float32))


def test_defaults_for_ids_and_class_names_and_floats_kept(tmp_path):
    x = np.linspace(-2, 3, 4 * 7, dtype=np.float32).reshape(4, 7)   # (N, D) features: no channel axis added
    ds = load_feature_arrays(npz(tmp_path / "feat.npz", x=x, y=np.array([1.0, 0.0, 3.0, 1.0])))
    np.testing.assert_array_equal(ds.x, x)                          # floats are not rescaled
    assert ds.y.dtype == np.int64 and ds.y.tolist() == [1, 0, 3, 1]  # integer-valued float labels accepted
    assert ds.ids.tolist() == ["feat-0", "feat-1", "feat-2", "feat-3"] and ds.class_names == ["0", "1", "2", "3"]


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((3, 4))}, r"lacks array\(s\) \['y'\]"),
    ({"y": np.zeros(3, int)}, r"lacks array\(s\) \['x'\]"),
    ({"x": np.zeros(3), "y": np.zeros(3, int)}, "'x' must be .N, ...."),
    ({"x": np.zeros((3, 4)), "y": np.zeros((3, 1), int)}, r"'y' must be \(N,\) = \(3,\) labels, got shape \(3, 1\)"),
    ({"x": np.zeros((3, 4)), "y": np.zeros(4, int)}, r"'y' must be \(N,\) = \(3,\).*\(4,\)"),
    ({"x": np.zeros((3, 4)), "y": np.array([0.0, 0.5, 1.0])}, "'y' must hold integer class labels.*float64"),
    ({"x": np.zeros((3, 4)), "y": np.array([0.0, np.nan, 1.0])}, "'y' must hold integer class labels"),
    ({"x": np.zeros((3, 4)), "y": np.array(["a", "b", "c"])}, "'y' must hold integer class labels"),
    ({"x": np.zeros((3, 4)), "y": np.zeros(3, int), "ids": np.array(["a", "b", "a"])}, "duplicate sample ids"),
    ({"x": np.zeros((3, 4)), "y": np.zeros(3, int), "ids": np.array(["a", "b"])}, "'ids' has 2 entries for 3"),
    ({"x": np.zeros((3, 4)), "y": np.array([0, 1, 2]), "class_names": np.array(["no", "yes"])},
     r"labels 0..2 do not fit the 2 class names \['no', 'yes'\]"),
    ({"x": np.zeros((3, 4)), "y": np.array([0, -1, 1])}, "labels -1..1 do not fit"),
    ({"x": np.zeros((3, 4)), "y": np.zeros(3, int), "class_names": np.array("ab")}, "'class_names' must be 1-D"),
])
def test_feature_file_problems_name_the_file_and_the_array(tmp_path, arrays, message):
    path = npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message) as err:
        load_feature_arrays(path)
    assert err.value.path == path and str(err.value).startswith(str(path))


def test_nan_in_x_names_the_sample(tmp_path):
    x = np.zeros((4, 3, 3), np.float32)
    x[2, 1, 1] = np.nan
    x[3, 0, 0] = np.inf
    path = npz(tmp_path / "nan.npz", x=x, y=np.zeros(4, int), ids=np.array(["a", "b", "c", "d"]))
    with pytest.raises(DataError, match=r"nan.npz: array 'x' has NaN or infinite values in 2 samples, first id 'c'"):
        load_feature_arrays(path)


def test_unreadable_feature_files(tmp_path):
    rng = np.random.default_rng(1)
    good = tmp_path / "good.npz"
    np.savez_compressed(good, x=rng.random((40, 16, 16)), y=rng.integers(0, 2, 40))
    data = good.read_bytes()
    cases = {"truncated.npz": data[: len(data) // 2], "text.npz": b"x,y\n1,2\n"}
    # damage inside the compressed x array (zlib error), inside its .npy header, and late in the data (CRC)
    for name, offset in (("inflate.npz", 1000), ("header.npz", 200), ("crc.npz", len(data) // 3)):
        damaged = bytearray(data)
        damaged[offset:offset + 50] = bytes(b ^ 0xFF for b in damaged[offset:offset + 50])
        cases[name] = bytes(damaged)
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataError, match=r"not a readable .npz") as err:
            load_feature_arrays(tmp_path / name)
        assert err.value.path == tmp_path / name, name
    np.save(tmp_path / "x.npy", np.zeros((3, 4)))
    with pytest.raises(DataError, match=r"x.npy: a single .npy array of shape \(3, 4\), not an .npz"):
        load_feature_arrays(tmp_path / "x.npy")
    with pytest.raises(DataError, match=r"missing.npz: feature file not found"):
        load_feature_arrays(tmp_path / "missing.npz")
    with pytest.raises(DataError, match="scale must be 'auto' or 'none'"):
        load_feature_arrays(good, scale="minmax")


# -- whale and fer 'features' sources --------------------------------------------------------------------------------
@pytest.fixture
def spectrogram_file(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 8, 10)).astype(np.float32) * 3 + 1
    return npz(tmp_path / "spec.npz", x=x, y=np.array([0, 1, 0, 1, 1, 0]),
               class_names=np.array(["noise", "call"])), x


def test_whale_features_flip_and_standardize(spectrogram_file):
    path, x = spectrogram_file
    plain = whale().load("features", path=str(path), standardize="none")
    assert plain.x.shape == (6, 8, 10, 1) and plain.class_names == ["noise", "call"]
    np.testing.assert_array_equal(plain.x[..., 0], x)
    assert plain.freqs == tuple(float(f) for f in range(8)) and plain.feature_units == "bins"
    flipped = whale().load("features", path=str(path), standardize="none", flip_frequency=True)
    np.testing.assert_array_equal(flipped.x[..., 0], x[:, ::-1])   # row 0 of an image is its highest frequency
    clip = whale().load("features", path=str(path))                 # default: each clip to mean 0, sd 1
    np.testing.assert_allclose(clip.x.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(clip.x.std(axis=(1, 2, 3)), 1, atol=1e-4)
    row = whale().load("features", path=str(path), standardize="row", flip_frequency=True)
    np.testing.assert_allclose(row.x.mean(axis=2), 0, atol=1e-5)
    top = x[:, -1]                                                  # the last stored row comes first when flipped
    np.testing.assert_allclose(row.x[:, 0, :, 0], (top - top.mean(1, keepdims=True)) / top.std(1, keepdims=True),
                               atol=1e-4)
    with pytest.raises(ParameterError, match="standardize"):
        whale().load("features", path=str(path), standardize="global")


def test_whale_features_need_two_classes(tmp_path):
    three = npz(tmp_path / "three.npz", x=np.zeros((3, 4, 4)), y=np.array([0, 1, 2]),
                class_names=np.array(["a", "b", "c"]))
    with pytest.raises(DataError, match=r"three.npz: whale features need 2 classes.*\['a', 'b', 'c'\]"):
        whale().load("features", path=str(three))
    unnamed = npz(tmp_path / "unnamed.npz", x=np.zeros((3, 4, 4)), y=np.array([0, 1, 2]))
    with pytest.raises(DataError, match="need 2 classes"):
        whale().load("features", path=str(unnamed))
    # without class_names in the file, labels 0/1 are the whale domain's classes
    binary = npz(tmp_path / "binary.npz", x=np.zeros((3, 4, 4)), y=np.array([0, 1, 0]))
    assert whale().load("features", path=str(binary)).class_names == ["no_call", "upcall"]
    with pytest.raises(ParameterError, match="needs a path"):
        whale().load("features")


def test_fer_features_source(uint8_file):
    path, x = uint8_file
    ds = fer().load("features", path=str(path))
    assert ds.x.shape == (6, 5, 4, 1) and ds.class_names == ["a", "b", "c"]
    np.testing.assert_allclose(ds.x[..., 0], x / 255.0, rtol=1e-6)
    with pytest.raises(DataError, match="feature file not found"):
        fer().load("features", path=str(path.with_name("nope.npz")))


# -- whale 'images' source ------------------------------------------------------------------------------------------
def png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def image_folder(tmp_path):
    rng = np.random.default_rng(3)
    root = tmp_path / "specs"
    arrays = {}
    for cls in ("no_call", "upcall"):
        for k in (1, 2, 10):  # natural order: 1, 2, 10 (not 1, 10, 2)
            a = rng.integers(0, 256, (6, 9), dtype=np.uint8)
            png(root / cls / f"clip{k}.png", a)
            arrays[f"{cls}/clip{k}.png"] = a
    return root, arrays


def test_whale_images_source(image_folder):
    root, arrays = image_folder
    ds = whale().load("images", path=str(root), standardize="none")
    assert ds.ids.tolist() == [f"{c}/clip{k}.png" for c in ("no_call", "upcall") for k in (1, 2, 10)]
    assert ds.y.tolist() == [0, 0, 0, 1, 1, 1] and ds.class_names == ["no_call", "upcall"]
    assert ds.x.shape == (6, 6, 9, 1)
    for i, sample in enumerate(ds.ids):
        np.testing.assert_allclose(ds.x[i, ..., 0], arrays[sample] / 255.0, rtol=1e-6)
    flipped = whale().load("images", path=str(root), standardize="none", flip_frequency=True)
    np.testing.assert_array_equal(flipped.x, ds.x[:, ::-1])
    swapped = whale().load("images", path=str(root), classes=["upcall", "no_call"], standardize="none")
    assert swapped.y.tolist() == [0, 0, 0, 1, 1, 1] and swapped.ids[0] == "upcall/clip1.png"
    (root / "extra").mkdir()
    with pytest.raises(DataError, match="need exactly 2 class folders"):
        whale().load("images", path=str(root))
    with pytest.raises(DataError, match="class folder 'calls' not found"):
        whale().load("images", path=str(root), classes=["no_call", "calls"])


def test_whale_16_bit_png_spectrogram_keeps_its_values(tmp_path):
    # A 16-bit PNG's values run to 65535; converting it to 8-bit grey ("L") clipped everything above 255 to white
    a = np.linspace(0, 65535, 12 * 20).reshape(12, 20).astype(np.uint16)
    root = tmp_path / "deep"
    png(root / "no_call" / "a.png", a)
    png(root / "upcall" / "b.png", a[::-1].copy())
    ds = whale().load("images", path=str(root), standardize="none")
    np.testing.assert_allclose(ds.x[0, ..., 0], a / 65535.0, atol=1e-6)
    np.testing.assert_allclose(ds.x[1, ..., 0], a[::-1] / 65535.0, atol=1e-6)


def test_whale_images_odd_size_and_unreadable_files(image_folder):
    root, _ = image_folder
    # no_call/clip0.png is the first file read: the odd image must be named even then, not the next good one
    odd = png(root / "no_call" / "clip0.png", np.zeros((7, 9), np.uint8))
    with pytest.raises(DataError, match=r"clip0.png: image size \(7, 9\) differs from the other images' \(6, 9\)"):
        whale().load("images", path=str(root))
    ds = whale().load("images", path=str(root), on_error="skip")
    assert len(ds) == 6 and "no_call/clip0.png" not in ds.ids.tolist()
    assert [s["file"] for s in ds.report["skipped"]] == [str(odd)]
    odd.unlink()
    broken = root / "no_call" / "clip3.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError, match=r"clip3.png: cannot read image"):
        whale().load("images", path=str(root))
    ds = whale().load("images", path=str(root), on_error="skip")
    assert len(ds) == 6 and ds.report["skipped"][0]["file"] == str(broken)
    with pytest.raises(ParameterError, match="on_error"):
        whale().load("images", path=str(root), on_error="ignore")


# -- the one image reader ---------------------------------------------------------------------------------------------
def test_read_image_scales_by_bit_depth_and_keeps_the_size(tmp_path):
    a16 = np.array([[0, 257, 65535], [1000, 30000, 65000]], dtype=np.uint16)
    x = read_image(png(tmp_path / "deep.png", a16))
    assert x.shape == (2, 3, 1) and x.dtype == np.float32               # size None: the image's own size
    np.testing.assert_allclose(x[..., 0], a16 / 65535.0, atol=1e-7)
    a8 = np.array([[0, 128, 255]], dtype=np.uint8)
    np.testing.assert_allclose(read_image(png(tmp_path / "byte.png", a8))[..., 0], a8 / 255.0)
    rgb = read_image(tmp_path / "byte.png", grayscale=False)
    assert rgb.shape == (1, 3, 3) and np.allclose(rgb[..., 1], a8 / 255.0)
    assert read_image(tmp_path / "deep.png", size=8).shape == (8, 8, 1)


def test_read_image_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match=r"missing.png: image file not found"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"junk.png: cannot read image") as err:
        read_image(tmp_path / "junk.png")
    assert err.value.path == tmp_path / "junk.png"


def test_fer_reader_is_the_core_reader(tmp_path):
    from relmask_plugins.fer import loaders

    a = np.linspace(0, 65535, 30 * 30).reshape(30, 30).astype(np.uint16)
    path = png(tmp_path / "face.png", a)
    np.testing.assert_array_equal(loaders.read_image(path), read_image(path, size=48))   # FER default: 48 px
    np.testing.assert_array_equal(loaders.read_image(path, size=None), read_image(path))


# -- FER csv text encoding --------------------------------------------------------------------------------------------
def test_fer_csv_that_is_not_utf8_is_a_data_error(tmp_path):
    path = tmp_path / "fer2013.csv"
    row = "0," + " ".join(["7"] * 2304)
    path.write_bytes(f"emotion,pixels,Usage\n{row},Training\n{row},Entra\xeenement\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"fer2013.csv: not UTF-8 text .*byte 0xee.*re-save the file as UTF-8") as err:
        fer().load("fer2013", path=str(path))
    assert err.value.path == path
