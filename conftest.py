"""Repository-wide pytest configuration.

Notebooks executed by nbval (``pytest --nbval-lax notebooks/``) run in QUICK mode:
each notebook's ``parameters`` cell reads ``MLP_NOTEBOOK_QUICK``, and the kernels
nbval starts inherit this process's environment. ``setdefault`` keeps an explicit
choice: ``MLP_NOTEBOOK_QUICK=0 pytest --nbval-lax notebooks/`` runs them at full size.
"""

import os

os.environ.setdefault("MLP_NOTEBOOK_QUICK", "1")
