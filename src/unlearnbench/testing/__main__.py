"""``python -m unlearnbench.testing CONFIG [--root DIR]``: fake datasets for a preset (see the package docstring)."""
import sys

from unlearnbench.testing import main

sys.exit(main())
