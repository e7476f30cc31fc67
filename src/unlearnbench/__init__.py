"""unlearnbench: does machine unlearning remove forgotten classes from representations, or only logits?"""
from unlearnbench import _torchvision_shim  # noqa: F401  (must run before timm/torchvision import)

__version__ = "0.1.0"
