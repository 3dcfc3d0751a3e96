"""Readers for real face-expression data: the Kaggle FER2013 csv, its image-folder export, any class-per-folder set.

Every reader returns a :class:`relmask.Dataset` with ``x`` float32 (N, size, size, channels) in [0, 1], labels
indexing ``class_names``, ids that name the sample (csv row or relative file path) and per-sample ``usage``
(csv ``Usage`` column or the split folder). Bad input raises :class:`relmask.DataError` naming the file (and
line); with ``on_error="skip"`` the bad item is left out and listed in ``dataset.report["skipped"]``.

Pixel values (read by :func:`relmask.io.read_image`): 8-bit images are converted by Pillow (grey = ITU-R
601-2 luma) and divided by 255; 16-bit images (``I;16``) by 65535 and 32-bit integer images by their bit depth;
float images (``F``, e.g. float TIFF) must hold values in [0, 1] (used as they are) or in [0, 255] (divided by
255), anything else is a DataError naming the range. Transparent pixels are composited over black (0, what the
``zero`` fill puts in removed pixels); a folder with such images says so in a warning and in
``dataset.report["alpha_composited"]``.
"""
from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np

from relmask.errors import DataError, RelmaskWarning
from relmask.io import read_image as _read_image
from relmask.pipeline.data import Dataset

from .synthetic import CLASS_NAMES

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm", ".ppm")
FER2013_PIXELS = 48 * 48
#: folder names of common exports mapped onto the FER2013 class names
DEFAULT_CLASS_MAP = {"anger": "angry", "disgusted": "disgust", "fearful": "fear", "happiness": "happy",
                     "sadness": "sad", "surprised": "surprise", "neutrality": "neutral", "contempt": None}


class _Problems:
    """Raise at the first problem (on_error='raise') or collect them for the report (on_error='skip')."""

    def __init__(self, on_error: str):
        if on_error not in ("raise", "skip"):
            raise DataError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.on_error = on_error
        self.skipped: list[dict] = []

    def __call__(self, problem: str, path) -> None:
        if self.on_error == "raise":
            raise DataError(problem, path)
        self.skipped.append({"path": str(path), "problem": problem})


def read_image(path: Path, size: int | None = 48, grayscale: bool = True, notes: dict | None = None) -> np.ndarray:
    """One image as float32 (size, size, 1 or 3) in [0, 1]; DataError naming the file if unreadable.

    :func:`relmask.io.read_image` with the FER default size: values are scaled by the image's bit depth (see
    the module docstring); ``notes["alpha"]`` is set True when transparent pixels were composited over black.
    """
    return _read_image(path, size, grayscale, notes)


def _finish(xs, ys, ids, usage, class_names, problems: _Problems, source: str, path) -> Dataset:
    if not xs:
        raise DataError(f"no usable samples found ({len(problems.skipped)} skipped)", path)
    ds = Dataset(np.stack(xs), np.asarray(ys), np.asarray(ids), list(class_names),
                 extras={"usage": np.asarray(usage), "source": source},
                 report={"skipped": problems.skipped, "n_loaded": len(xs), "path": str(path)})
    counts = ds.class_counts()
    empty = [c for c, k in counts.items() if k == 0]
    if empty:
        ds.report["empty_classes"] = empty
    return ds


def _filter_usage(ds: Dataset, usage: str | None, path) -> Dataset:
    if usage is None:
        return ds
    present = sorted(set(ds.usage.tolist()))
    keep = np.char.lower(ds.usage.astype(str)) == usage.lower()
    if not keep.any():
        raise DataError(f"no samples with usage {usage!r}; present: {', '.join(present)}", path)
    return ds.subset(np.flatnonzero(keep))


def load_fer2013_csv(path: Path, usage: str | None = None, on_error: str = "raise") -> Dataset:
    """The Kaggle ``fer2013.csv`` (header ``emotion,pixels[,Usage]``; 2,304 space-separated grey values a row)."""
    try:
        return _read_fer2013_csv(Path(path), usage, on_error)
    except UnicodeDecodeError as exc:  # decoding runs in chunks: no reliable line to name, but the file
        raise DataError(f"not UTF-8 text ({exc.reason}, byte 0x{exc.object[exc.start]:02x}); the FER2013 csv is "
                        "plain ASCII: re-save the file as UTF-8", path) from None
    except OSError as exc:
        raise DataError(f"cannot read the csv: {exc.strerror or exc}", path) from None


def _read_fer2013_csv(path: Path, usage: str | None, on_error: str) -> Dataset:
    problems = _Problems(on_error)
    xs, ys, ids, usages = [], [], [], []
    with open(path, newline="", encoding="utf-8-sig") as fh:  # utf-8-sig: a byte-order mark is not a header
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader, [])]
        if "emotion" not in header or "pixels" not in header:
            raise DataError(f"not a FER2013 csv: header must name 'emotion' and 'pixels', got {header}", path)
        ci, cp = header.index("emotion"), header.index("pixels")
        cu = header.index("usage") if "usage" in header else None
        for row_no, row in enumerate(reader):
            where = f"{path}:{row_no + 2}"  # 1-based line number, after the header
            try:
                label = int(row[ci])
                pixels = np.array(row[cp].split(), dtype=np.float32)
            except (ValueError, IndexError) as exc:
                problems(f"malformed row ({exc})", where)
                continue
            if not 0 <= label < len(CLASS_NAMES):
                problems(f"emotion {label} is not a FER2013 class (0..{len(CLASS_NAMES) - 1})", where)
                continue
            if pixels.size != FER2013_PIXELS:
                problems(f"{pixels.size} pixel values, expected {FER2013_PIXELS} (48x48)", where)
                continue
            if not np.isfinite(pixels).all():  # float() parses 'nan' and 'inf', which the range test lets through
                problems(f"{int((~np.isfinite(pixels)).sum())} pixel values are NaN or infinite", where)
                continue
            if pixels.min() < 0 or pixels.max() > 255:
                problems("pixel values outside 0..255", where)
                continue
            xs.append(pixels.reshape(48, 48, 1) / 255.0)
            ys.append(label)
            ids.append(f"fer2013-{row_no:05d}")
            usages.append(row[cu] if cu is not None and cu < len(row) else "all")
    return _filter_usage(_finish(xs, ys, ids, usages, CLASS_NAMES, problems, "fer2013", path), usage, path)


def _class_folders(root: Path, classes: list[str], class_map: dict, problems: _Problems):
    """(folder, class index) pairs of ``root``'s sub-folders; unknown names and empty folders are problems."""
    mapping = {**DEFAULT_CLASS_MAP, **class_map}
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        name = mapping.get(folder.name, mapping.get(folder.name.lower(), folder.name.lower()))
        if name is None:  # deliberately ignored class, e.g. CK+ 'contempt'
            continue
        if name not in classes:
            problems(f"unknown class folder {folder.name!r}; known classes: {', '.join(classes)} "
                     f"(map other names with class_map)", folder)
            continue
        out.append((folder, classes.index(name)))
    return out


def load_class_folders(root: Path, splits: list[str | None], classes: list[str], size: int = 48,
                       grayscale: bool = True, class_map: dict | None = None, on_error: str = "raise",
                       source: str = "folder") -> Dataset:
    """Images under ``root/<split>/<class>/`` (or ``root/<class>/`` for split None), one class per folder."""
    from tqdm.auto import tqdm

    problems = _Problems(on_error)
    items = []
    for split in splits:
        base = root / split if split else root
        for folder, label in _class_folders(base, classes, class_map or {}, problems):
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                problems("empty class folder (no image files)", folder)
                continue
            items += [(f, label, split or "all") for f in files]
    xs, ys, ids, usages, alpha = [], [], [], [], []
    for f, label, split in tqdm(items, desc=f"reading {root.name}", disable=None, leave=False):
        notes: dict = {}
        try:
            xs.append(read_image(f, size, grayscale, notes))
        except DataError as exc:
            problems(exc.problem, f)
            continue
        ys.append(label)
        ids.append(f.relative_to(root).as_posix())
        usages.append(split)
        if notes.get("alpha"):
            alpha.append(ids[-1])
    ds = _finish(xs, ys, ids, usages, classes, problems, source, root)
    if alpha:
        ds.report["alpha_composited"] = alpha
        warnings.warn(f"{root}: {len(alpha)} images have transparent pixels (first: {alpha[0]}); they were "
                      "composited over black", RelmaskWarning, stacklevel=2)
    return ds


def load_fer2013(path, usage: str | None = None, on_error: str = "raise") -> Dataset:
    """FER2013 from ``fer2013.csv`` or from the image-folder export (``train/<class>/``, ``test/<class>/``)."""
    path = Path(path)
    if not path.exists():
        raise DataError("no such file or folder", path)
    if path.is_file():
        return load_fer2013_csv(path, usage=usage, on_error=on_error)
    if (path / "fer2013.csv").is_file():
        return load_fer2013_csv(path / "fer2013.csv", usage=usage, on_error=on_error)
    splits = [d.name for d in sorted(path.iterdir()) if d.is_dir() and d.name.lower() in ("train", "test", "val",
                                                                                            "validation")]
    if not splits:
        raise DataError("expected fer2013.csv or split folders train/ and test/ with one folder per class", path)
    ds = load_class_folders(path, splits, CLASS_NAMES, 48, True, None, on_error, source="fer2013")
    return _filter_usage(ds, usage, path)


def load_folder(path, size: int = 48, grayscale: bool = True, classes: list | None = None,
                class_map: dict | None = None, on_error: str = "raise") -> Dataset:
    """Any class-per-folder image set (CK+, JAFFE, AffectNet crops): ``path/<class>/*.png|jpg``.

    ``classes`` fixes the class list and order (default: the 7 FER2013 classes when every folder maps onto
    one of them, else the sorted folder names). ``class_map`` renames folders (``{"anger": "angry"}``) or
    drops them (``{"contempt": None}``).
    """
    path = Path(path)
    if not path.is_dir():
        raise DataError("expected a folder with one sub-folder per class", path)
    if classes is None:
        mapping = {**DEFAULT_CLASS_MAP, **(class_map or {})}
        names = [mapping.get(d.name, mapping.get(d.name.lower(), d.name.lower()))
                 for d in sorted(path.iterdir()) if d.is_dir()]
        names = [n for n in names if n is not None]
        classes = list(CLASS_NAMES) if set(names) <= set(CLASS_NAMES) else sorted(set(names))
    if size < 8:
        raise DataError(f"size must be >= 8 px, got {size}", path)
    return load_class_folders(path, [None], list(classes), size, grayscale, class_map, on_error)
