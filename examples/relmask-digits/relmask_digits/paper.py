"""What the ``digits`` experiment contributes to ``paper/``: one figure and one table per run.

``relmask reproduce`` (and ``relmask figures``) call :meth:`DigitsMasking.paper_outputs` with the finished runs of
this experiment, each a ``(run record, results.json)`` pair, and a :class:`relmask.running.figures.PaperWriter`. Both
outputs are drawn from the recorded results only, by the same functions the notebook uses, so ``paper/`` shows
what the executed notebook showed.
"""
from __future__ import annotations

from .experiment import plot_results, table


def paper_outputs(runs: list[tuple[dict, dict]], paper) -> None:
    runs = [(r, res) for r, res in runs if res.get("summary")]
    for record, results in runs:
        one = [(record, results)]
        params, data = results["params"], results.get("data") or {}
        for masker in params["maskers"]:
            # one run of one masker (the usual case) gives plain stems; several get their names
            stem = "digits_students" + ("" if len(runs) == 1 else f"_{record['name']}") + (
                "" if len(params["maskers"]) == 1 else f"_{masker}")
            fill = params["masker_params"].get(masker, {}).get("fill")
            setting = (f"{data.get('n', '?')} digits of scikit-learn's load_digits, {len(params['seeds'])} seeds, "
                       f"{params['relevance_method']} maps of a {params['model']} teacher, {masker} masking"
                       + (f" (fill {fill})" if fill else "") + f", {params['epochs']} student epochs")
            fig = plot_results(results["summary"], masker,
                               title=paper.title("Students on relevance-masked digits", one))
            paper.figure(stem, one, fig,
                         f"Left: test accuracy of students trained and scored on digits masked with the teacher's "
                         f"relevance maps, with control maps ({', '.join(params['controls']) or 'none'}: the same "
                         f"masker, maps of the same values placed elsewhere) and on raw digits (dashed); error bars "
                         f"and bands: ± sd over seeds. Right: their learning curves at the smallest share. {setting}.")
            header, rows = table(results["summary"], results["effects"], masker)
            paper.table(stem, one, "Students on relevance-masked digits", header, rows,
                        "Accuracy mean ± sd over seeds; ink kept: share of the test images' summed intensity the "
                        "students of each condition see; relevance − control and relevance − raw: paired per-seed "
                        f"differences with their 95 % interval (within noise: the interval includes zero). {setting}.")
