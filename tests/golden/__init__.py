"""Golden relevance maps of a seeded model (regenerate: ``python -m tests.golden.regenerate``)."""
