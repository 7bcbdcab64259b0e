"""Settings for the whole test run, notebooks included (a conftest under tests/ would not reach notebooks/).

Measurements exercise every code path at the smallest size (conventions §3); notebook kernels started by nbval
inherit this environment. Cells whose output depends on the budget carry ``# NBVAL_IGNORE_OUTPUT``.
"""

import os

os.environ.setdefault("HFTOS_BUDGET", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
