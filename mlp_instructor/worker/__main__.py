"""Entry point in the sandbox: ``python -I -S WORKER_DIR SUBMISSION_DIR NUMPY_SITE_DIR``.

Python puts WORKER_DIR (this folder) first on ``sys.path``; its parent goes
there instead, so the folder imports as a package under its own name (the
judge binds it as ``worker``) and its modules' relative imports work.
"""

import importlib
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[0] = os.path.dirname(_HERE)
sys.exit(importlib.import_module(os.path.basename(_HERE) + ".inside").main(sys.argv))
