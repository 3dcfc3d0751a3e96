"""FER2013 csv / image folders and class-per-folder sets, broken files included."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import relmask
from relmask.errors import DataError, ParameterError

CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def fer():
    return relmask.get_domain("fer")


def pixels(value: int, n: int = 48 * 48) -> str:
    return " ".join([str(value)] * n)


def write_csv(path, rows):
    path.write_text("emotion,pixels,Usage\n" + "".join(f"{e},{p},{u}\n" for e, p, u in rows))
    return path


def write_png(path, value=128, size=(48, 48), mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value,) * 3).save(path)


@pytest.fixture
def good_csv(tmp_path):
    rows = [(i % 7, pixels(10 * i), "Training" if i < 10 else "PublicTest") for i in range(14)]
    return write_csv(tmp_path / "fer2013.csv", rows)


def test_csv(good_csv):
    ds = fer().load("fer2013", path=str(good_csv))
    assert ds.x.shape == (14, 48, 48, 1) and ds.class_names == CLASSES
    np.testing.assert_allclose(ds.x[3].max(), 30 / 255, rtol=1e-6)
    assert ds.y.tolist() == [i % 7 for i in range(14)]
    assert ds.ids[0] == "fer2013-00000" and ds.usage[12] == "PublicTest"
    assert len(fer().load("fer2013", path=str(good_csv), usage="PublicTest")) == 4
    assert len(fer().load("fer2013", path=str(good_csv.parent), usage="training")) == 10  # folder holding the csv
    with pytest.raises(DataError, match=r"PrivateTest.*present: PublicTest, Training"):
        fer().load("fer2013", path=str(good_csv), usage="PrivateTest")


def test_csv_wrong_pixel_count_and_label(tmp_path):
    rows = [(0, pixels(1), "Training"), (3, pixels(1, n=100), "Training"), (9, pixels(1), "Training"),
            (2, "1 2 x", "Training"), (1, pixels(2), "Training")]
    path = write_csv(tmp_path / "fer2013.csv", rows)
    with pytest.raises(DataError, match=r"fer2013.csv:3: 100 pixel values, expected 2304"):
        fer().load("fer2013", path=str(path))
    ds = fer().load("fer2013", path=str(path), on_error="skip")
    assert ds.y.tolist() == [0, 1]
    problems = {s["path"].rsplit(":", 1)[1]: s["problem"] for s in ds.report["skipped"]}
    assert set(problems) == {"3", "4", "5"}
    assert "emotion 9" in problems["4"] and "malformed" in problems["5"]


def test_csv_bad_header(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("label,data\n0,1 2 3\n")
    with pytest.raises(DataError, match=r"x.csv.*'emotion' and 'pixels'"):
        fer().load("fer2013", path=str(path))


def test_image_folder_export(tmp_path):
    for split in ("train", "test"):
        for c in CLASSES[:3]:
            for k in range(2):
                write_png(tmp_path / split / c / f"im{k}.png", value=40 * k + 10)
    write_png(tmp_path / "train" / "happy" / "big.jpg", size=(96, 96))  # resized to 48x48
    ds = fer().load("fer2013", path=str(tmp_path))
    assert len(ds) == 13 and ds.x.shape[1:] == (48, 48, 1)
    assert ds.class_counts()["happy"] == 1 and "surprise" in ds.report["empty_classes"]
    assert "train/angry/im0.png" in ds.ids.tolist()
    assert len(fer().load("fer2013", path=str(tmp_path), usage="test")) == 6


def test_folder_corrupt_unknown_and_empty(tmp_path):
    write_png(tmp_path / "happy" / "a.png")
    write_png(tmp_path / "Sadness" / "b.png", size=(64, 40), mode="RGB")  # alias + resize + grayscale
    (tmp_path / "happy" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DataError, match=r"broken.png: cannot read image"):
        fer().load("folder", path=str(tmp_path))
    ds = fer().load("folder", path=str(tmp_path), on_error="skip")
    assert sorted(ds.y.tolist()) == [CLASSES.index("happy"), CLASSES.index("sad")]
    assert ds.report["skipped"][0]["path"].endswith("broken.png")

    (tmp_path / "bored").mkdir()
    write_png(tmp_path / "bored" / "c.png")
    with pytest.raises(DataError, match=r"bored.*unknown class folder"):
        fer().load("folder", path=str(tmp_path), on_error="raise", classes=CLASSES)
    ds = fer().load("folder", path=str(tmp_path), on_error="skip", class_map={"bored": "neutral"})
    assert ds.class_counts()["neutral"] == 1

    (tmp_path / "fear").mkdir()
    with pytest.raises(DataError, match="fear: empty class folder"):
        fer().load("folder", path=str(tmp_path), class_map={"bored": None})


def test_folder_custom_classes_and_options(tmp_path):
    for c in ("pos", "neg"):
        write_png(tmp_path / c / "x.png", size=(30, 30), mode="RGB")
    ds = fer().load("folder", path=str(tmp_path), size=32, grayscale=False)
    assert ds.class_names == ["neg", "pos"] and ds.x.shape == (2, 32, 32, 3)


def test_missing_path_and_obtain_text(tmp_path):
    with pytest.raises(ParameterError, match="kaggle"):
        fer().load("fer2013")
    with pytest.raises(DataError, match="no such file"):
        fer().load("fer2013", path=str(tmp_path / "nope.csv"))
