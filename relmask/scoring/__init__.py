"""What a run is judged by: AUC and decision-level fusion (``evaluation``), paired effects with bootstrap
intervals (``stats``) and the faithfulness metrics behind ``relmask.evaluate`` (``metrics``)."""
