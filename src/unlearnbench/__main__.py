"""``python -m unlearnbench``: the command line (:mod:`unlearnbench.cli`)."""
import sys

from unlearnbench.cli import main

sys.exit(main())
