"""Relevance maps from files: the "relevance need not come from a network" half of Paper A (e.g. eye tracking).

A map source is one of

* a ``.npz`` file whose keys are sample ids (``np.savez(path, **{id: map})``), or that holds two arrays
  ``ids`` (N,) and ``maps`` (N, H, W[, C]);
* a folder of per-sample files, ``.npy`` arrays or images (``.png``, ``.jpg`` ... read as grey levels), named
  after the sample id. A file matches an id by its path relative to the folder without the extension
  (``train/happy/im12.png`` matches id ``train/happy/im12.png`` or ``train/happy/im12``) or, when unique, by
  its bare file name (``im12.npy``).

Maps are resized (bilinear) to the inputs' height and width and repeated over their channels. Ids without a
map raise :class:`relmask.DataError` naming the source and the first missing ids.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from relmask.errors import DataError, ParameterError
from relmask.plugin_system.components import Param, RelevanceMethod

from .loaders import IMAGE_EXTENSIONS, read_image

MAP_EXTENSIONS = (".npy", *IMAGE_EXTENSIONS)


def _strip_ext(name: str) -> str:
    p = Path(name)
    return p.with_suffix("").as_posix() if p.suffix.lower() in MAP_EXTENSIONS else p.as_posix()


def _read_map(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DataError(f"cannot read relevance map ({exc})", path) from None
    return read_image(path, size=None, grayscale=True)[..., 0]


def _folder_index(root: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """(relative stem -> file, bare stem -> file) of every map file under ``root``; ambiguous bare stems dropped."""
    by_rel, by_name, seen = {}, {}, set()
    for f in sorted(root.rglob("*")):
        if f.is_file() and f.suffix.lower() in MAP_EXTENSIONS:
            by_rel[f.relative_to(root).with_suffix("").as_posix()] = f
            if f.stem in seen:
                by_name.pop(f.stem, None)
            else:
                by_name[f.stem] = f
                seen.add(f.stem)
    return by_rel, by_name


def resize_map(m: np.ndarray, shape: Sequence[int], where) -> np.ndarray:
    """A 2-D (or H×W×1) map resized to shape[:2] and repeated over shape[2:] channels."""
    import cv2

    m = np.asarray(m, dtype=np.float32)
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim == 3:  # a colour heat map: its grey level
        m = m.mean(axis=-1)
    if m.ndim != 2 or min(m.shape) < 1:
        raise DataError(f"relevance map must be 2-D (H, W), got shape {m.shape}", where)
    if not np.isfinite(m).all():
        raise DataError("relevance map has NaN or infinite values", where)
    h, w = int(shape[0]), int(shape[1])
    if m.shape != (h, w):
        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
    if len(shape) > 2:
        m = np.repeat(m[..., None], int(np.prod(shape[2:])), axis=-1).reshape(tuple(shape))
    return m


def load_external_relevance(source, ids: Sequence[str], shape: Sequence[int]) -> np.ndarray:
    """Maps for ``ids`` from ``source`` (a .npz file or a folder), each resized to ``shape`` (H, W[, C]).

    Returns float32 (len(ids), *shape) in the order of ``ids``.
    """
    source = Path(source)
    ids = [str(i) for i in ids]
    if not source.exists():
        raise DataError("relevance source not found (a .npz file or a folder of maps named by sample id)", source)
    found: dict[str, tuple[np.ndarray | Path, str]] = {}
    if source.is_file():
        if source.suffix.lower() != ".npz":
            raise DataError("a relevance file must be .npz (keys = sample ids, or arrays 'ids' and 'maps'); "
                            "per-sample .npy or image files go in a folder", source)
        try:
            with np.load(source, allow_pickle=False) as z:
                if "ids" in z.files and "maps" in z.files:
                    table = {str(k): m for k, m in zip(z["ids"].tolist(), z["maps"], strict=True)}
                else:
                    table = {k: z[k] for k in z.files}
        except (ValueError, OSError) as exc:
            raise DataError(f"cannot read relevance archive ({exc})", source) from None
        stripped = {_strip_ext(k): k for k in table}
        for i in ids:
            key = i if i in table else stripped.get(_strip_ext(i))
            if key is not None:
                found[i] = (table[key], f"{source}[{key}]")
    else:
        by_rel, by_name = _folder_index(source)
        for i in ids:
            f = by_rel.get(_strip_ext(i)) or by_name.get(Path(_strip_ext(i)).name)
            if f is not None:
                found[i] = (f, str(f))
    missing = [i for i in ids if i not in found]
    if missing:
        raise DataError(f"no relevance map for {len(missing)} of {len(ids)} samples, e.g. "
                        f"{', '.join(map(repr, missing[:5]))}", source)
    out = np.empty((len(ids), *shape), dtype=np.float32)
    for k, i in enumerate(ids):
        m, where = found[i]
        out[k] = resize_map(_read_map(m) if isinstance(m, Path) else m, shape, where)
    return out


class ExternalRelevance(RelevanceMethod):
    """Registered as ``external``: ``relmask.explain(None, x, "external", source=PATH, ids=IDS)``."""

    name = "external"
    description = ("relevance maps read from files (.npz keyed by sample id, or a folder of .npy/image maps "
                   "named by sample id), e.g. human eye-tracking heat maps; resized to the input")
    needs_model = False
    params = (
        Param("source", str, "", "a .npz file or a folder of per-sample maps named by sample id"),
        Param("ids", list, [], "the sample id of every input, in order (e.g. dataset.ids.tolist())"),
    )

    def attribute(self, model, x, targets, source, ids):
        if not source:
            raise ParameterError("relevance method 'external': parameter 'source' (a .npz file or folder) is "
                                 "required")
        if len(ids) != len(x):
            raise ParameterError(f"relevance method 'external': {len(ids)} ids for {len(x)} inputs; pass one id "
                                 f"per input (dataset.ids.tolist())")
        return load_external_relevance(source, ids, x.shape[1:])
