"""External relevance maps (.npz, folders of .npy / images) matched by sample id."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import relmask
from relmask.errors import DataError, ParameterError
from relmask_plugins.fer.external import load_external_relevance

IDS = ["train/happy/a.png", "train/sad/b.png", "c"]


def maps(n=3, size=12):
    return np.stack([np.full((size, size), float(i + 1)) for i in range(n)]).astype(np.float32)


def test_npz_keyed_by_id(tmp_path):
    path = tmp_path / "maps.npz"
    np.savez(path, **{i: m for i, m in zip(IDS, maps(), strict=True)})
    r = load_external_relevance(path, [IDS[2], IDS[0]], (24, 24, 1))
    assert r.shape == (2, 24, 24, 1) and r.dtype == np.float32
    np.testing.assert_allclose(r[:, 0, 0, 0], [3.0, 1.0])  # order of the requested ids


def test_npz_ids_and_maps_arrays_and_extension_free_match(tmp_path):
    path = tmp_path / "gaze.npz"
    np.savez(path, ids=np.array(["train/happy/a", "train/sad/b"]), maps=maps(2, size=6))
    r = load_external_relevance(path, IDS[:2], (6, 6))
    np.testing.assert_allclose(r[:, 3, 3], [1.0, 2.0])


def test_folder_of_npy_and_images(tmp_path):
    (tmp_path / "train" / "happy").mkdir(parents=True)
    np.save(tmp_path / "train" / "happy" / "a.npy", np.eye(8, dtype=np.float32))
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(tmp_path / "b.png")  # matched by bare name
    np.save(tmp_path / "c.npy", np.zeros((4, 4, 1), np.float32))
    r = load_external_relevance(tmp_path, IDS, (8, 8, 3))
    assert r.shape == (3, 8, 8, 3)
    np.testing.assert_allclose(r[0, ..., 0], np.eye(8))
    np.testing.assert_allclose(r[1], 1.0)
    np.testing.assert_allclose(r[0, ..., 0], r[0, ..., 2])  # repeated over channels


def test_missing_ids_named(tmp_path):
    path = tmp_path / "maps.npz"
    np.savez(path, **{IDS[0]: maps(1)[0]})
    with pytest.raises(DataError, match=r"maps.npz: no relevance map for 2 of 3 samples, e.g. 'train/sad/b.png'"):
        load_external_relevance(path, IDS, (12, 12))


def test_bad_sources(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_external_relevance(tmp_path / "none.npz", IDS, (4, 4))
    (tmp_path / "m.npy").write_bytes(b"junk")
    with pytest.raises(DataError, match=r"must be .npz"):
        load_external_relevance(tmp_path / "m.npy", IDS, (4, 4))
    folder = tmp_path / "f"
    folder.mkdir()
    np.save(folder / "c.npy", np.full((4, 4), np.nan, np.float32))
    with pytest.raises(DataError, match=r"c.npy: relevance map has NaN"):
        load_external_relevance(folder, ["c"], (4, 4))


def test_registered_method_through_explain(tmp_path):
    path = tmp_path / "maps.npz"
    np.savez(path, **{i: m for i, m in zip(IDS, maps(), strict=True)})
    method = relmask.get_method("external")
    assert method.needs_model is False
    x = np.zeros((3, 12, 12, 1), np.float32)
    r = relmask.explain(None, x, "external", source=str(path), ids=IDS)
    np.testing.assert_allclose(r[:, 0, 0, 0], [1.0, 2.0, 3.0])
    # a model-free method sees the whole input at once, whatever the batch size, so ids stay aligned
    small = relmask.explain(None, x, "external", source=str(path), ids=IDS, batch_size=2)
    np.testing.assert_array_equal(small, r)
    with pytest.raises(ParameterError, match="2 ids for 3 inputs"):
        method.attribute(None, x, None, source=str(path), ids=IDS[:2])
    with pytest.raises(ParameterError, match="'source'"):
        method.attribute(None, x, None, source="", ids=IDS)
