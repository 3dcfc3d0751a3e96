"""The ``whale`` domain: sources ``synthetic`` (embedded generator) and ``kaggle`` (2013 Kaggle layout or a
folder of clips with a CSV). Both return a :class:`relmask.Dataset` of standardised log-magnitude spectrograms
``x`` (N, F, T, 1), frequency rows low to high, labels 1 = up-call.

Generated clips, decoded Kaggle clips and spectrograms are cached under ``cache_dir`` (default
``$RELMASK_CACHE/whale``, else ``~/.cache/relmask/whale``), each file written atomically and named by a hash of
everything it depends on, so a changed parameter or file never reuses a stale cache.
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

from relmask.cache import hash_jsonable
from relmask.components import Domain, Param, Source
from relmask.data import Dataset, fingerprint_arrays
from relmask.errors import DataError, ParameterError
from relmask.io import atomic_save_npy, atomic_write, to_jsonable

from . import audio, synthetic
from .spectrogram import STANDARDIZE, SpectrogramConfig, spectrogram

CLASS_NAMES = ["no_call", "upcall"]

SPECTROGRAM_PARAMS = (
    Param("n_fft", int, 256, "STFT window length in samples (Hann window; 256 = 128 ms at 2 kHz)"),
    Param("hop", int, 64, "STFT hop in samples (64 = 32 ms)"),
    Param("fmin", float, 0.0, "lowest frequency kept (Hz)"),
    Param("fmax", float, 500.0, "highest frequency kept (Hz)"),
    Param("standardize", str, "clip", "clip: each spectrogram to mean 0 / sd 1; row: each frequency row of "
          "each clip; none: raw log magnitude", choices=STANDARDIZE),
)
CACHE_PARAM = Param("cache_dir", (str, type(None)), None,
                    "cache folder (default $RELMASK_CACHE/whale or ~/.cache/relmask/whale)")

OBTAIN = ("Download train.zip from the Kaggle 'Whale Detection Challenge' "
          "(https://www.kaggle.com/c/whale-detection-challenge/data; Cornell's data, free for education and "
          "non-profit research), unzip it so that the folder holds train.csv and train/train1.aiff ..., and pass "
          "that folder as the path (data_path in the notebook).")


def default_cache_dir() -> Path:
    env = os.environ.get("RELMASK_CACHE")
    return (Path(env) if env else Path.home() / ".cache" / "relmask") / "whale"


def _cache_dir(cache_dir: str | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir else default_cache_dir()


def _save_npz(path: Path, arrays: dict) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write(path, buf.getvalue())


def _load_npz(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError):  # unreadable cache file: recompute and overwrite it
        return None


def cached_spectrogram(waveforms: np.ndarray, config: SpectrogramConfig, cache_dir: Path) -> np.ndarray:
    """:func:`spectrogram` cached under ``cache_dir/spectrograms`` by waveform fingerprint and config."""
    path = cache_dir / "spectrograms" / f"{hash_jsonable([fingerprint_arrays(waveforms), config.to_dict()])}.npy"
    if path.exists():
        try:
            return np.load(path)
        except (OSError, ValueError):
            pass
    spec = spectrogram(waveforms, config)
    atomic_save_npy(path, spec)
    return spec


def _config(sample_rate: int, n_fft, hop, fmin, fmax, standardize) -> SpectrogramConfig:
    try:
        return SpectrogramConfig(sample_rate, n_fft, hop, fmin, fmax, standardize)
    except ValueError as exc:
        raise ParameterError(f"domain 'whale': {exc}") from None


def make_dataset(waveforms, labels, ids, config: SpectrogramConfig, cache_dir: Path, extras=None,
                 report=None) -> Dataset:
    """Spectrogram dataset of validated waveforms; ``freqs``/``times`` are tuples (not per-sample arrays)."""
    spec = cached_spectrogram(waveforms, config, cache_dir)
    extras = {"waveforms": waveforms, "sample_rate": config.sample_rate,
              "freqs": tuple(float(f) for f in config.freqs()),
              "times": tuple(float(t) for t in config.times(waveforms.shape[1])),
              "spectrogram": config.to_dict(), **(extras or {})}
    ds = Dataset(spec[..., None], labels, ids, list(CLASS_NAMES), extras, dict(report or {}))
    ds.report.setdefault("class_counts", ds.class_counts())
    return ds


def load_synthetic(path, n_clips, seed, positive_share, snr_db_min, snr_db_max, max_confounders, cache_dir,
                   **spec_params) -> Dataset:
    if path is not None:
        raise ParameterError("whale source 'synthetic' generates its clips and takes no path; use source "
                             "'kaggle' for a data folder")
    gen = {"n_clips": n_clips, "seed": seed, "positive_share": positive_share,
           "snr_db": (snr_db_min, snr_db_max), "max_confounders": max_confounders}
    try:
        synthetic.check(**gen)
    except ValueError as exc:
        raise ParameterError(f"whale source 'synthetic': {exc}") from None
    root = _cache_dir(cache_dir)
    path = root / "synthetic" / f"{hash_jsonable([gen, synthetic.GENERATOR_VERSION])}.npz"
    data = _load_npz(path)
    if data is None:
        data = synthetic.generate(**gen)
        _save_npz(path, data)
    waves, labels = data.pop("waveforms"), data.pop("labels")
    ids = np.asarray([f"synth{seed}_{i}" for i in range(len(labels))])
    report = {"source": "synthetic", "generator": gen, "generator_version": synthetic.GENERATOR_VERSION,
              "cache_file": str(path)}
    return make_dataset(waves, labels, ids, _config(synthetic.SAMPLE_RATE, **spec_params), root, data, report)


def _read_folder(audio_dir: Path, csv_path: Path, on_error: str, max_clips: int | None):
    """Validated waveforms, labels, names and a report of what was skipped or mismatched."""
    from tqdm.auto import tqdm

    labels = audio.read_labels(csv_path)
    files = {p.name: p for p in audio.list_clips(audio_dir)}
    unlabelled = sorted(set(files) - set(labels), key=audio.natural_key)
    missing = sorted(set(labels) - set(files), key=audio.natural_key)
    if on_error == "raise":
        if missing:
            raise DataError(f"{len(missing)} clips listed in {csv_path.name} have no file in {audio_dir}, "
                            f"first: {missing[0]!r} (on_error='skip' skips them)", audio_dir / missing[0])
        if unlabelled:
            raise DataError(f"clip has no label in {csv_path} ({len(unlabelled)} such files; "
                            "on_error='skip' skips them)", files[unlabelled[0]])
    names = sorted(set(files) & set(labels), key=audio.natural_key)
    if max_clips is not None:
        names = names[:max_clips]
    waves, kept, skipped = [], [], []
    for name in tqdm(names, desc="reading clips", unit="clip", disable=None):
        try:
            waves.append(audio.read_clip(files[name]))
            kept.append(name)
        except DataError as exc:
            if on_error == "raise":
                raise
            skipped.append({"file": str(files[name]), "problem": exc.problem})
    if not kept:
        raise DataError(f"no valid labelled clips ({len(skipped)} skipped)", audio_dir)
    report = {"source": "kaggle", "audio_dir": str(audio_dir), "labels_csv": str(csv_path),
              "n_listed": len(labels), "n_files": len(files), "skipped": skipped,
              "unlabelled_files": unlabelled, "missing_files": missing}
    return (np.stack(waves).astype(np.float32), np.asarray([labels[n] for n in kept], np.int64),
            np.asarray(kept), report)


def load_kaggle(path, on_error, max_clips, labels_csv, cache_dir, **spec_params) -> Dataset:
    if max_clips is not None and max_clips < 1:
        raise ParameterError(f"whale source 'kaggle': max_clips must be >= 1 or None, got {max_clips}")
    audio_dir, csv_path = audio.find_layout(path, labels_csv)
    root = _cache_dir(cache_dir)
    # the cache key covers every clip's name, size and mtime and the CSV's bytes: any change re-reads
    listing = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in audio.list_clips(audio_dir)]
    key = hash_jsonable([str(audio_dir.resolve()), listing, fingerprint_arrays(csv_path.read_bytes()),
                         on_error, max_clips])
    cache_file = root / "kaggle" / f"{key}.npz"
    data = _load_npz(cache_file)
    if data is not None:
        waves, labels, names = data["waveforms"], data["labels"], data["ids"]
        report = json.loads(str(data["report"]))
    else:
        waves, labels, names, report = _read_folder(audio_dir, csv_path, on_error, max_clips)
        _save_npz(cache_file, {"waveforms": waves, "labels": labels, "ids": names,
                               "report": np.asarray(json.dumps(to_jsonable(report)))})
    report["cache_file"] = str(cache_file)
    return make_dataset(waves, labels, names, _config(audio.SAMPLE_RATE, **spec_params), root, None, report)


class WhaleDomain(Domain):
    name = "whale"
    description = ("North Atlantic right-whale up-call detection: 2-s, 2-kHz hydrophone clips as log-magnitude "
                   "spectrograms (Paper B, Interspeech 2019)")
    sources = {
        "synthetic": Source(
            "synthetic", "seeded generator of Kaggle-like clips: FM up-calls in coloured noise with confounders",
            load_synthetic,
            (Param("n_clips", int, 2000, "number of clips"),
             Param("seed", int, 0, "generator seed"),
             Param("positive_share", float, 0.23, "share of clips with an up-call (Kaggle: 0.234)"),
             Param("snr_db_min", float, -14.0, "lowest call/confounder SNR in dB (40-300 Hz noise band)"),
             Param("snr_db_max", float, 4.0, "highest call/confounder SNR in dB"),
             Param("max_confounders", int, 2, "at most this many confounding sounds per clip (0-4)"),
             CACHE_PARAM, *SPECTROGRAM_PARAMS)),
        "kaggle": Source(
            "kaggle", "2013 Kaggle Whale Detection Challenge layout (train/trainN.aiff + train.csv) or a folder "
            "of AIFF/WAV clips with a clip_name,label CSV", load_kaggle,
            (Param("on_error", str, "raise", "a bad clip or label mismatch: raise a DataError naming the file, "
                   "or skip it and list it in dataset.report", choices=("raise", "skip")),
             Param("max_clips", (int, type(None)), None, "read only the first N labelled clips (natural order)"),
             Param("labels_csv", (str, type(None)), None, "label CSV (relative to the path) if not train.csv "
                   "or the folder's only CSV"),
             CACHE_PARAM, *SPECTROGRAM_PARAMS),
            needs_path=True, obtain=OBTAIN),
    }
