"""unlearnbench: does machine unlearning remove forgotten classes from representations, or only logits?

Importing the package is cheap (no torch); ``unlearnbench.models`` installs the torchvision workaround
(``_torchvision_shim``) before it imports timm. ``unlearnbench.load("outputs/<experiment>")`` reads an
experiment's outputs into DataFrames (:mod:`unlearnbench.api`, imported on first use); the command line is
``unlearnbench`` (:mod:`unlearnbench.cli`).
"""

__version__ = "0.1.0"
#: names of :mod:`unlearnbench.api` available here, imported on first access (keeps the package import light)
_API = ("load", "Experiment", "NotAnExperimentError")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from unlearnbench import api

        return getattr(api, name)
    raise AttributeError(f"module 'unlearnbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
