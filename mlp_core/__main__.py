"""``python -m mlp_core``: the kit's command line, which lives in the course lab.

The engine imports nothing of the lab; this entry point is the one place that
reaches up to it, so that ``python -m mlp_core ...`` keeps working for
students and instructors alike.
"""

import sys

from mlp_lab.cli import main

sys.exit(main())
