"""The ``fer`` domain: synthetic faces (default), FER2013 (csv or image folders) and any class-per-folder set."""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from relmask.pipeline.data import Dataset, load_feature_arrays
from relmask.plugin_system.components import Domain, DomainDefaults, Param, Source

from . import loaders, synthetic

ON_ERROR = Param("on_error", str, "raise", "what a corrupt image, bad row or unknown class does: raise a "
                 "DataError naming the file, or skip it and list it in dataset.report['skipped']",
                 choices=("raise", "skip"))


def load_synthetic(path, n: int, seed: int, style: str, difficulty: float, occlusion: float,
                   class_distribution: str) -> Dataset:
    x, y = synthetic.render_faces(n, seed=seed, style=style, difficulty=difficulty, occlusion=occlusion,
                                  class_distribution=class_distribution)
    ids = np.char.add(f"synthetic-{style}-{seed}-", np.char.zfill(np.arange(n).astype(str), 6))
    return Dataset(x[..., None], y, ids, list(synthetic.CLASS_NAMES),
                   extras={"style": style, "usage": np.full(n, "all"), "source": "synthetic"},
                   report={"n_loaded": n, "skipped": []})


FER2013_OBTAIN = (
    "Download fer2013.csv from the Kaggle 'Challenges in Representation Learning: Facial Expression Recognition "
    "Challenge' (https://www.kaggle.com/c/challenges-in-representation-learning-facial-expression-recognition-"
    "challenge/data, file fer2013.tar.gz) or the image-folder export (https://www.kaggle.com/datasets/msambare/"
    "fer2013: train/<class>/*.jpg, test/<class>/*.jpg), put it anywhere and pass its path as data_path. "
    "relmask never downloads it (Kaggle terms).")
FOLDER_OBTAIN = ("Point data_path at a folder with one sub-folder of images per class (CK+, JAFFE, AffectNet "
                 "crops ...). Each data set has its own licence and download form; relmask downloads none.")


class FerDomain(Domain):
    name = "fer"
    description = "facial expression recognition on 48×48 grayscale faces, 7 FER2013 classes"
    #: for experiments that run on any domain (faithfulness): Paper A's protocol on small synthetic sets
    defaults = DomainDefaults(source="synthetic", size_param="n", n_samples=1000, model="fer_small_cnn",
                              masker="keep", masker_params={"fraction": 0.5, "fill": "blur"}, score="aulc_gain",
                              n_classes=len(synthetic.CLASS_NAMES),
                              relevance_params={"occlusion": {"window": 12}}, synthetic=True)
    sources: ClassVar[dict[str, Source]] = {
        "synthetic": Source(
            "synthetic", "procedurally drawn faces (seeded, no download), styles photo/sketch/cartoon",
            load_synthetic, (
                Param("n", int, 2000, "number of faces", low=1),
                Param("seed", int, 0, "random seed (different seeds give disjoint faces)", low=0),
                Param("style", str, "photo", "drawing style", choices=synthetic.STYLES),
                Param("difficulty", float, 1.0, "spread of the expression parameters around each class "
                      "prototype (higher = classes overlap more)", low=0),
                Param("occlusion", float, 0.25, "probability of a partial occluder on a face", low=0, high=1),
                Param("class_distribution", str, "balanced", "balanced or FER2013's class shares",
                      choices=("balanced", "fer2013")),
            ), sample_shape=lambda path, **p: (synthetic.SIZE, synthetic.SIZE, 1)),
        "fer2013": Source(
            "fer2013", "Kaggle FER2013: fer2013.csv (emotion,pixels,Usage) or the train/ test/ image folders",
            lambda path, **kw: loaders.load_fer2013(path, **kw), (
                Param("usage", (str, type(None)), None, "keep one usage only (csv: Training, PublicTest, "
                      "PrivateTest; folders: train, test); None = all"),
                ON_ERROR,
            ), needs_path=True, obtain=FER2013_OBTAIN, sample_shape=lambda path, **p: (48, 48, 1)),
        "folder": Source(
            "folder", "any class-per-folder image set (CK+, JAFFE, AffectNet crops), resized",
            lambda path, **kw: loaders.load_folder(path, **kw), (
                Param("size", int, 48, "images are resized to size×size", low=1),
                Param("grayscale", bool, True, "convert to one grey channel (False: RGB)"),
                Param("classes", (list, type(None)), None, "class names in label order; None = the FER2013 "
                      "classes when all folders map onto them, else the sorted folder names"),
                Param("class_map", (dict, type(None)), None, "folder name -> class name (None drops the "
                      "folder), on top of common aliases such as anger->angry, contempt->dropped"),
                ON_ERROR,
            ), needs_path=True, obtain=FOLDER_OBTAIN,
            sample_shape=lambda path, size, grayscale, **p: (size, size, 1 if grayscale else 3)),
        "features": Source(
            "features", "precomputed inputs in an .npz: x (N, H, W[, C]), y, optional ids and class_names "
            "(integer arrays are scaled to [0, 1])", lambda path: load_feature_arrays(path),
            needs_path=True, obtain="Pass the .npz file as the path; relmask downloads nothing."),
    }
