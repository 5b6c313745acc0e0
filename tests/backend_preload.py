"""What the backend test zygote imports once (see ``tests.backend_zygote``): third-party modules only.

None of ours: the backend decides at import time what to wrap for ``--inject-fault`` and the kernel API
log level, so every run must import its own modules afresh.  ``OMP_NUM_THREADS=1`` is every backend
test's value, and OpenMP reads it when torch loads.

On a GPU host nothing here may touch CUDA: a ``torch.cuda.is_available()`` during an import (``torch``
asks the CUDA runtime unless ``PYTORCH_NVML_BASED_CUDA_CHECK`` is set) marks every later fork as unable
to use CUDA ("Cannot re-initialize CUDA in forked subprocess").  The NVML check answers without the
runtime; a forked run sees only its own environment, so its own checks are unchanged.
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"

import torch  # noqa: E402,F401
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL  # noqa: E402,F401
from diffusers.models.transformers.pixart_transformer_2d import PixArtTransformer2DModel  # noqa: E402,F401
from diffusers.pipelines.pipeline_utils import DiffusionPipeline  # noqa: E402,F401
from diffusers.schedulers.scheduling_flow_match_euler_discrete import (  # noqa: E402,F401
    FlowMatchEulerDiscreteScheduler,
)
