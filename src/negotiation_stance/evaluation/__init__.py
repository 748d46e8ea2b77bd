"""Scoring models: metrics, reports, the evaluate task, the run record and the comparison of runs.

Submodules are imported where needed: ``metrics`` and ``compare`` do not load torch.
"""
