"""Experiment pipelines behind the notebooks: the notebooks stay thin, the logic here is unit-tested."""
