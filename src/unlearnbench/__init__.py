"""unlearnbench: does machine unlearning remove forgotten classes from representations, or only logits?

Importing the package is cheap (no torch); ``unlearnbench.models`` installs the torchvision workaround
(``_torchvision_shim``) before it imports timm.
"""

__version__ = "0.1.0"
