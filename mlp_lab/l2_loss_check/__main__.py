"""python -m mlp_lab.l2_loss_check: train the L2 loss study's runs, then write its Markdown."""

from .study import main

raise SystemExit(main())
