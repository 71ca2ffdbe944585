"""Model runtimes for the software DUT. See base.py for the interface."""
from bundle.models.base import (INPUT_SIZES, BackendUnavailable, ModelBackend, ModelInputError,
                                available_backends, get_backend)

__all__ = ["INPUT_SIZES", "BackendUnavailable", "ModelBackend", "ModelInputError",
           "available_backends", "get_backend"]
