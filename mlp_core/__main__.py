"""``python -m mlp_core``: the kit's command line, the same as the ``mlp`` script.

The engine imports nothing of the lab. The command line lives in the course lab
(``mlp_lab.cli``) and is installed as the console script ``mlp``
(``pyproject.toml``); this entry point runs whatever the installed kit
registered under that name, so ``python -m mlp_core ...`` keeps working for
students and instructors alike without an import from the engine upwards.
"""

import sys
from importlib.metadata import entry_points

scripts = entry_points(group="console_scripts", name="mlp")
if not scripts:
    sys.exit(
        "python -m mlp_core: the kit's command line is not installed; from the kit's folder run\n"
        '    pip install -c constraints.txt -e ".[notebooks,test]"'
    )
sys.exit(next(iter(scripts)).load()())
