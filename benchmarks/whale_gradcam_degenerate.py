"""Why Grad-CAM maps of the whale CNN vanish on real clips, and whether LRP's do (issue 23, point 3).

Trains ONE CNN₁ exactly as the whale experiment's ``real`` preset does (the preset's split of ``--seed``,
``relmask_plugins.whale.pipeline.member``/``train_members``, the preset's epochs unless ``--epochs``), then on
its training and test clips, explaining CNN₁'s predicted class (the preset's ``train_mask_target``):

* Grad-CAM at the default layer and at every other spatial layer, and its ingredients: the pooled gradients
  α_k = mean_ij ∂z_t/∂A_k,ij, the raw CAM Σ_k α_k A_k before the ReLU, and which clips lose everything to it;
* Grad-CAM of the up-call logit for every clip (``positive`` target, a documented option of the experiment);
* LRP-ε and the CNN composite ``lrp.epsilon_plus_flat`` on the same clips;
* per method the number of degenerate maps (``relmask.pipeline.masking.degenerate_maps``: all values equal, e.g. all
  zero), split by CNN₁'s predicted class, and how many maps have fewer non-zero values than the 20 % the
  ``negative`` masker removes (the rest of that 20 % is then drawn at random).

Prints one table and writes nothing next to the data. Never commit its output figures of real clips (none are
drawn). Usage (about 3 minutes on one CPU thread)::

    TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 .venv/bin/python benchmarks/whale_gradcam_degenerate.py \
        --data /work/shared/data/whale_spectrogram_dev.npz --seed 2 [--epochs 6] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import yaml


def cam_parts(model, layer: str, x: np.ndarray, targets: np.ndarray, batch: int = 256, contrast: bool = False):
    """Per clip: pooled gradients α (N, K), the layer's activations A (N, h, w, K), the raw CAM Σ_k α_k A_k and
    the element-wise Σ_k ∂z_t/∂A_k,ij · A_k,ij (HiResCAM, Draelos & Carin 2020: no spatial pooling of the
    gradient), both before the ReLU.

    ``contrast``: differentiate z_t − mean of the other logits (with two classes the log-odds z_t − z_other,
    the only thing a softmax decision depends on) instead of the bare logit z_t."""
    from keras import ops

    from relmask.relevance import _autodiff
    from relmask.relevance.engine import select
    from relmask.relevance.graph import find_layer, logit_handler, run_graph

    shape = tuple(find_layer(model, layer).output.shape[1:])
    alphas, acts, hires = [], [], []
    for s in range(0, len(x), batch):
        xb = ops.convert_to_tensor(x[s:s + batch].astype(np.float32))
        tb = ops.convert_to_tensor(targets[s:s + batch].astype(np.int32))

        def f(delta, xb, tb):
            taps = {layer: None}
            z = run_graph(model, xb, logit_handler(taps=taps, perturb={layer: delta}))
            hot = select(z, tb)
            if contrast:  # one-hot minus the mean of the other classes
                hot = hot - (1.0 - hot) / (ops.shape(z)[-1] - 1)
            return ops.sum(hot * z), taps[layer]

        delta = ops.zeros((xb.shape[0], *shape), dtype="float32")
        g, a = _autodiff.grad(f, has_aux=True)(delta, xb, tb)
        alphas.append(np.asarray(ops.mean(g, axis=(1, 2))))
        acts.append(np.asarray(a))
        hires.append(np.asarray(ops.sum(g * a, axis=-1)))
    alpha, act = np.concatenate(alphas), np.concatenate(acts)
    return alpha, act, np.einsum("nk,nijk->nij", alpha, act), np.concatenate(hires)


def describe(name: str, r: np.ndarray, pred: np.ndarray, fraction: float) -> dict:
    from relmask.pipeline.masking import degenerate_maps

    deg = degenerate_maps(r)
    flat = np.abs(r.reshape(len(r), -1))
    sparse = (flat > 0).mean(axis=1) < fraction  # the top-fraction masker must draw part of its cut at random
    return {"method": name, "n": len(r), "degenerate": int(deg.sum()),
            "degenerate_pred_no_call": int(deg[pred == 0].sum()), "n_pred_no_call": int((pred == 0).sum()),
            "degenerate_pred_upcall": int(deg[pred == 1].sum()), "n_pred_upcall": int((pred == 1).sum()),
            "nonzero_below_fraction": int(sparse.sum()),
            "positive_share_mean": float((r.reshape(len(r), -1) > 0).mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="whale_spectrogram_dev.npz")
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=None, help="default: the real preset's")
    ap.add_argument("--json", default=None, help="also write the numbers here")
    args = ap.parse_args()

    import relmask
    from relmask.pipeline.masking import degenerate_maps
    from relmask.pipeline.training import predict_proba
    from relmask.relevance.graph import all_layers, logits
    from relmask.scoring.evaluation import roc_auc
    from relmask_plugins.relevance.gradcam import default_layer
    from relmask_plugins.whale import pipeline as whale

    exp = relmask.get_experiment("whale")
    values = yaml.safe_load(open(exp.preset("real"))) | {"data_path": args.data, "seeds": [args.seed],
                                                          "relevance_methods": ["gradcam"]}
    if args.epochs:
        values["epochs"] = args.epochs
    cfg = exp.configure(values)
    fraction = cfg.masker_params.get("negative", {}).get("fraction", 0.2)
    t0 = time.time()
    ds = whale.load_data(cfg.source, cfg.data_path, cfg.n_clips, cfg.cache_dir, cfg.on_error, **cfg.load_params)
    sp = whale.splits_for(cfg, ds.y, 0)
    x_tr, y_tr, x_te, y_te = ds.x[sp["train"]], ds.y[sp["train"]], ds.x[sp["test"]], ds.y[sp["test"]]
    (res,) = whale.train_members(cfg, [whale.member(cfg, x_tr, y_tr, args.seed, "CNN₁",
                                                     (ds.x[sp["val"]], ds.y[sp["val"]]))], "CNN₁")
    cnn1 = res.model
    p_tr, p_te = predict_proba(cnn1, x_tr), predict_proba(cnn1, x_te)
    out: dict = {"seed": args.seed, "epochs": cfg.epochs, "n_train": len(x_tr), "n_test": len(x_te),
                 "test_auc": roc_auc(y_te, p_te[:, 1]),
                 "train_seconds": round(time.time() - t0, 1), "splits": {}}
    layer = default_layer(cnn1, x_tr.ndim)
    spatial = [lay.name for lay in all_layers(cnn1) if len(lay.output.shape) == 4
               and type(lay).__name__ != "InputLayer"]
    out["gradcam_default_layer"] = layer
    for split, x, p in (("train", x_tr, p_tr), ("test", x_te, p_te)):
        pred = whale.mask_targets(cfg.train_mask_target, p)
        rows = []
        alpha, act, raw, hires = cam_parts(cnn1, layer, x, pred)
        live = act.reshape(len(act), -1, act.shape[-1]).max(axis=1) > 0  # channels with any activation
        zero_after_relu = raw.reshape(len(raw), -1).max(axis=1) <= 0
        diag = {"layer": layer, "layer_shape": list(act.shape[1:]),
                "raw_cam_all_nonpositive": int(zero_after_relu.sum()),
                "raw_cam_all_nonpositive_pred_no_call": int(zero_after_relu[pred == 0].sum()),
                "raw_cam_all_nonpositive_pred_upcall": int(zero_after_relu[pred == 1].sum()),
                "alpha_positive_share_pred_no_call": float((alpha[pred == 0] > 0).mean()) if (pred == 0).any()
                else None,
                "alpha_positive_share_pred_upcall": float((alpha[pred == 1] > 0).mean()) if (pred == 1).any()
                else None,
                "all_live_alpha_nonpositive": int(np.all((alpha <= 0) | ~live, axis=1).sum()),
                "act_nonnegative": bool((act >= 0).all())}
        # the negative evidence the ReLU drops: ReLU(-CAM) is non-zero where ReLU(CAM) is all zero
        diag["neg_cam_informative_where_zero"] = int((raw.reshape(len(raw), -1).min(axis=1) < 0)[zero_after_relu]
                                                     .sum())
        # the two logits: a 2-class softmax sees only their difference, so how it is split between them is free
        z = np.asarray(logits(cnn1, x.astype(np.float32)))
        d = z[:, 1] - z[:, 0]
        diag["logits"] = {"mean_z0": float(z[:, 0].mean()), "mean_z1": float(z[:, 1].mean()),
                          "sd_z0": float(z[:, 0].std()), "sd_z1": float(z[:, 1].std()),
                          "corr_z1_vs_log_odds": float(np.corrcoef(z[:, 1], d)[0, 1]),
                          "corr_z0_vs_log_odds": float(np.corrcoef(z[:, 0], d)[0, 1])}
        _, _, raw_c, _ = cam_parts(cnn1, layer, x, pred, contrast=True)
        relu_c = np.maximum(raw_c, 0)
        diag["contrast_cam_degenerate"] = int(degenerate_maps(relu_c).sum())
        diag["contrast_cam_degenerate_pred_no_call"] = int(degenerate_maps(relu_c[pred == 0]).sum())
        diag["contrast_cam_degenerate_pred_upcall"] = int(degenerate_maps(relu_c[pred == 1]).sum())
        diag["abs_cam_degenerate"] = int(degenerate_maps(np.abs(raw)).sum())
        relu_h = np.maximum(hires, 0)
        diag["hirescam_degenerate"] = int(degenerate_maps(relu_h).sum())
        diag["hirescam_degenerate_pred_upcall"] = int(degenerate_maps(relu_h[pred == 1]).sum())
        # where Grad-CAM is all zero: share of the 8x8 cells whose element-wise evidence is positive
        diag["hirescam_positive_cells_where_gradcam_zero"] = float((hires[zero_after_relu] > 0).mean()) \
            if zero_after_relu.any() else None
        for name, method, params, targets in (
                [(f"gradcam@{lay}", "gradcam", {"layer": lay}, pred) for lay in spatial]
                + [("gradcam (positive target)", "gradcam", {}, np.ones(len(x), np.int64)),
                   ("lrp.epsilon", "lrp.epsilon", {}, pred),
                   ("lrp.epsilon_plus_flat", "lrp.epsilon_plus_flat", {}, pred),
                   ("lrp.epsilon (positive target)", "lrp.epsilon", {}, np.ones(len(x), np.int64))]):
            r = relmask.explain(cnn1, x, method, targets=targets, progress=False, **params)
            rows.append(describe(name + (" [default]" if params.get("layer") == layer else ""), r, pred,
                                 fraction))
        out["splits"][split] = {"gradcam_internals": diag, "methods": rows}
    out["seconds"] = round(time.time() - t0, 1)
    print(f"seed {args.seed}, {cfg.epochs} epochs, CNN₁ test AUC {out['test_auc']:.4f}, Grad-CAM default layer "
          f"{layer!r}, {out['seconds']} s")
    for split, s in out["splits"].items():
        print(f"\n[{split}] Grad-CAM internals: {json.dumps(s['gradcam_internals'])}")
        print("| method | degenerate / n | of them predicted no_call / n | predicted up-call / n | "
              f"non-zero < {fraction:.0%} | share of values > 0 |")
        print("|---|---|---|---|---|---|")
        for r in s["methods"]:
            print(f"| {r['method']} | {r['degenerate']} / {r['n']} | {r['degenerate_pred_no_call']} / "
                  f"{r['n_pred_no_call']} | {r['degenerate_pred_upcall']} / {r['n_pred_upcall']} | "
                  f"{r['nonzero_below_fraction']} | {r['positive_share_mean']:.3f} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
