"""geo: multispectral scenes to ranked, licence-aware drill targets."""

import logging

__version__ = "0.1.0"
__all__ = ["__version__"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
