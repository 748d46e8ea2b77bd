"""Training: the staged run (``run.train``), the fit with ``Trainer``, resuming, and the baselines."""
