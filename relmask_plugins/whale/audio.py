"""Reading and validating hydrophone clips (AIFF/WAV via soundfile) and their label CSV.

Every clip must be mono, 2000 Hz, exactly 4000 samples and finite. relmask never pads, trims or resamples a
clip: a clip that breaks a rule is a :class:`relmask.errors.DataError` naming the file and the problem, or, with
``on_error="skip"``, left out and listed in the dataset's report.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from relmask.errors import DataError

from .synthetic import N_SAMPLES, SAMPLE_RATE

AUDIO_SUFFIXES = (".aiff", ".aif", ".wav")


def read_clip(path: str | Path, sample_rate: int = SAMPLE_RATE, n_samples: int = N_SAMPLES) -> np.ndarray:
    """One validated clip as float32 in [-1, 1]; raises DataError(problem, path) otherwise."""
    import soundfile as sf

    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"cannot read clip: {exc.strerror or exc}", path) from None
    if size == 0:
        raise DataError("empty file (0 bytes)", path)
    try:
        with sf.SoundFile(path) as fh:
            rate, channels = fh.samplerate, fh.channels
            data = fh.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise DataError(f"not a readable AIFF/WAV file ({exc})", path) from None
    if channels != 1:
        raise DataError(f"{channels} channels, expected mono", path)
    if rate != sample_rate:
        raise DataError(f"sample rate {rate} Hz, expected {sample_rate} Hz (relmask does not resample)", path)
    if len(data) != n_samples:
        hint = " (truncated?)" if len(data) < n_samples else ""
        raise DataError(f"{len(data)} samples, expected {n_samples}{hint}; relmask does not pad or trim clips",
                        path)
    if not np.isfinite(data).all():
        raise DataError("contains NaN or infinite samples", path)
    return data[:, 0]


def read_labels(csv_path: str | Path) -> dict[str, int]:
    """``clip_name,label`` CSV -> {clip name: 0/1}; DataError naming the file and line on bad content."""
    csv_path = Path(csv_path)
    try:
        text = csv_path.read_text(encoding="utf-8-sig")  # a byte-order mark (Excel's "CSV UTF-8") is no header
    except OSError as exc:
        raise DataError(f"cannot read label file: {exc.strerror or exc}", csv_path) from None
    except UnicodeDecodeError as exc:
        raise DataError(f"label file is not UTF-8 text ({exc.reason} at byte {exc.start})", csv_path) from None
    reader = csv.reader(text.splitlines())
    header = [h.strip() for h in next(reader, [])]
    if header[:2] != ["clip_name", "label"]:
        raise DataError(f"expected header 'clip_name,label', got {','.join(header)!r}", csv_path)
    labels: dict[str, int] = {}
    for line_no, row in enumerate(reader, start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 2:
            raise DataError(f"line {line_no}: expected 'clip_name,label', got {','.join(row)!r}", csv_path)
        name, label = row[0].strip(), row[1].strip()
        if label not in ("0", "1"):
            raise DataError(f"line {line_no}: label of {name!r} must be 0 or 1, got {label!r}", csv_path)
        if name in labels:
            raise DataError(f"line {line_no}: clip {name!r} is listed twice", csv_path)
        labels[name] = int(label)
    if not labels:
        raise DataError("no labelled clips", csv_path)
    return labels


def find_layout(root: str | Path, labels_csv: str | None = None) -> tuple[Path, Path]:
    """(audio folder, label CSV) of ``root``: the Kaggle layout (train/ + train.csv) or a folder + one CSV."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError("data path is not a directory", root)
    if labels_csv is not None:
        csv_path = Path(labels_csv).expanduser()
        csv_path = csv_path if csv_path.is_absolute() else root / csv_path
        if not csv_path.is_file():
            raise DataError("label CSV (parameter labels_csv) not found", csv_path)
        audio = root / "train" if (root / "train").is_dir() and csv_path.name == "train.csv" else root
        return audio, csv_path
    if (root / "train.csv").is_file() and (root / "train").is_dir():
        return root / "train", root / "train.csv"
    csvs = sorted(root.glob("*.csv"))
    if len(csvs) != 1:
        raise DataError(f"expected the Kaggle layout (train/ and train.csv) or one CSV beside the clips, found "
                        f"{len(csvs)} CSV files; pass labels_csv", root)
    return root, csvs[0]


def natural_key(name: str) -> tuple:
    """train2 before train10."""
    import re

    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


def list_clips(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES),
                  key=lambda p: natural_key(p.name))
