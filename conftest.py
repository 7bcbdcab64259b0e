"""Settings for the whole test run, notebooks included (a conftest under tests/ would not reach notebooks/).

Measurements exercise every code path at the smallest size (conventions §3); notebook kernels started by nbval
inherit this environment. Cells whose output depends on the budget carry ``# NBVAL_IGNORE_OUTPUT``.
"""

import os

os.environ.setdefault("HFTOS_BUDGET", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")

# Labs (conventions §8): the student notebooks labs/labNN_*.ipynb are generated with unanswered tasks, and their check
# cells store what a *correct* answer prints, so plain nbval would fail them by design. nbval validates the reference
# labs under labs/source/ instead (solutions, hidden checks, stored expected outputs); tests/test_grade_lab01.py grades
# each student version (zero points, runs to the end) and checks that it is the one `hftos.grade.release` generates.
collect_ignore_glob = ["labs/lab[0-9]*.ipynb"]
