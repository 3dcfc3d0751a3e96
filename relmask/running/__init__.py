"""Running experiments reproducibly: notebooks under papermill (``runner``, ``jupyter``), where runs execute
(``executor``), whole reproductions (``reproduce``), the relevance cache, run records and locks (``cache``,
``run_records``, ``locks``), provenance, results, figures and their style, and progress reporting."""
