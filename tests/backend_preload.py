"""What the backend test zygote imports once (see ``tests.backend_zygote``): the embedded model's module,
which is what pulls in torch and diffusers, and nothing else of ours.

The rest of the backend decides at import time what to wrap for ``--inject-fault`` and the kernel API
log level, so every run imports it afresh; the model module (and the prompt encoder and vocabulary it
imports) decides nothing at import.  ``OMP_NUM_THREADS=1`` is every backend
test's value, and OpenMP reads it when torch loads.

On a GPU host nothing here may touch CUDA: a ``torch.cuda.is_available()`` during an import (``torch``
asks the CUDA runtime unless ``PYTORCH_NVML_BASED_CUDA_CHECK`` is set) marks every later fork as unable
to use CUDA ("Cannot re-initialize CUDA in forked subprocess").  The NVML check answers without the
runtime; a forked run sees only its own environment, so its own checks are unchanged.
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"

import backend.models.shapes_pipeline  # noqa: E402,F401
