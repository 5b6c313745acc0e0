"""`ShapesPipeline`: the embedded default model, a tiny text-conditioned latent diffusion transformer.

Components are stock diffusers classes where one exists: `PixArtTransformer2DModel` (cross-attention on
prompt tokens), `AutoencoderKL` (4x down, 4 latent channels), `FlowMatchEulerDiscreteScheduler`
(rectified flow, good at 8 steps), plus our `PromptEncoder`. A directory written by `save_pretrained` is a
normal diffusers pipeline, so `from_pretrained` loads it offline and cache-dit hooks its transformer
blocks like any other DiT.

The backend runs generation stage by stage (it times and logs each), so the stages are public methods:
`validate_prompt` -> `encode_prompt` -> `prepare_timesteps` -> `prepare_latents` -> `denoise_step` (once per
timestep, in order) -> `decode`. `__call__` composes exactly those.

The dual variant adds `transformer_2`, a low-noise expert: like Wan2.2, timesteps at or above
`boundary_ratio * num_train_timesteps` go to `transformer` (high noise, layout) and the rest to
`transformer_2` (low noise, detail).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
from diffusers.models.transformers.pixart_transformer_2d import PixArtTransformer2DModel
from diffusers.pipelines.pipeline_utils import DiffusionPipeline, ImagePipelineOutput
from diffusers.schedulers.scheduling_flow_match_euler_discrete import FlowMatchEulerDiscreteScheduler
from PIL import Image

from backend.models.prompt_encoder import PromptEncoder
from backend.models.vocab import parse_prompt

MODEL_DIR = Path(__file__).with_name("shapes")
"""The default model: one transformer."""
DUAL_MODEL_DIR = Path(__file__).with_name("shapes_dual")
"""The two-expert variant (`transformer` + `transformer_2`), for secondary-transformer settings."""
DEFAULT_STEPS = 8
DEFAULT_GUIDANCE = 3.0
"""Classifier-free guidance scale the shipped weights were tuned for; 1.0 turns guidance off (one pass)."""
DEFAULT_BOUNDARY_RATIO = 0.5

TRANSFORMER_CONFIG: dict[str, Any] = {
    "num_attention_heads": 3,
    "attention_head_dim": 32,
    "in_channels": 4,
    "out_channels": 4,
    "num_layers": 6,
    "cross_attention_dim": 96,
    "caption_channels": 64,
    "sample_size": 16,
    "patch_size": 2,
    "norm_num_groups": 8,
}
"""96 wide, 6 blocks, 64 tokens of a 16x16x4 latent: ~1M parameters, ~2 MB in fp16."""
VAE_CONFIG: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 3,
    "up_block_types": ["UpDecoderBlock2D"] * 3,
    "block_out_channels": [32, 48, 48],
    "layers_per_block": 1,
    "latent_channels": 4,
    "norm_num_groups": 16,
    "sample_size": 64,
    "mid_block_add_attention": False,
}
"""64x64 RGB <-> 16x16x4 latents; flat-colour shapes need no attention in the autoencoder."""
TEXT_ENCODER_CONFIG: dict[str, Any] = {"dim": 64, "num_layers": 2, "num_heads": 4}
SCHEDULER_CONFIG: dict[str, Any] = {"num_train_timesteps": 1000, "shift": 1.0}


@dataclass
class PromptEmbeds:
    """Encoded prompts and their negatives, kept apart so guidance can be switched per step."""

    embeds: torch.Tensor
    """(B, L, D) prompt token embeddings."""
    mask: torch.Tensor
    """(B, L) 1 for real tokens, 0 for padding."""
    negative_embeds: torch.Tensor
    negative_mask: torch.Tensor

    def for_guidance(self, guided: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings and mask for one transformer call: [negative; positive] when guided."""
        if not guided:
            return self.embeds, self.mask
        return torch.cat([self.negative_embeds, self.embeds]), torch.cat([self.negative_mask, self.mask])


class ShapesPipeline(DiffusionPipeline):
    """Coloured shapes from prompts such as "a small green triangle at the top left" (64x64 native)."""

    model_cpu_offload_seq = "text_encoder->transformer->transformer_2->vae"  # type: ignore[assignment]  # diffusers types it None
    _optional_components = ["transformer_2"]

    transformer: PixArtTransformer2DModel
    vae: AutoencoderKL
    scheduler: FlowMatchEulerDiscreteScheduler
    text_encoder: PromptEncoder
    transformer_2: PixArtTransformer2DModel | None

    def __init__(
        self,
        transformer: PixArtTransformer2DModel,
        vae: AutoencoderKL,
        scheduler: FlowMatchEulerDiscreteScheduler,
        text_encoder: PromptEncoder,
        transformer_2: PixArtTransformer2DModel | None = None,
        boundary_ratio: float | None = None,
    ) -> None:
        """Assemble the pipeline.

        Args:
            transformer: The denoiser; the high-noise expert when `transformer_2` is given.
            vae: Latent autoencoder.
            scheduler: Flow-matching Euler scheduler.
            text_encoder: Prompt encoder (tokenizer included).
            transformer_2: Optional low-noise expert.
            boundary_ratio: Fraction of `num_train_timesteps` where the experts hand over; needed with
                `transformer_2`, ignored without it.
        """
        super().__init__()
        if transformer_2 is not None and boundary_ratio is None:
            raise ValueError("A pipeline with transformer_2 needs boundary_ratio.")
        self.register_modules(
            transformer=transformer,
            vae=vae,
            scheduler=scheduler,
            text_encoder=text_encoder,
            transformer_2=transformer_2,
        )
        self.register_to_config(boundary_ratio=boundary_ratio)

    # -- geometry ---------------------------------------------------------------------------------------

    @property
    def vae_scale_factor(self) -> int:
        """Pixels per latent cell along one side."""
        return int(2 ** (len(self.vae.config["block_out_channels"]) - 1))

    @property
    def size_multiple(self) -> int:
        """Heights and widths must be multiples of this (one transformer patch in pixels)."""
        return self.vae_scale_factor * int(self.transformer.config["patch_size"])

    @property
    def native_size(self) -> int:
        """The square size the model was trained at; other allowed sizes work but look worse."""
        return int(self.transformer.config["sample_size"]) * self.vae_scale_factor

    @property
    def max_size(self) -> int:
        """Largest height or width accepted (4x native: beyond that it is only tiled noise)."""
        return 4 * self.native_size

    def check_size(self, height: int, width: int) -> None:
        """Raise ValueError unless both sides are multiples of `size_multiple` within `max_size`."""
        for name, value in (("height", height), ("width", width)):
            if value % self.size_multiple or not self.size_multiple <= value <= self.max_size:
                raise ValueError(
                    f"{name}={value}: the shapes model takes multiples of {self.size_multiple} from "
                    f"{self.size_multiple} to {self.max_size} (native {self.native_size})."
                )

    # -- stages -----------------------------------------------------------------------------------------

    def validate_prompt(self, prompt: str) -> None:
        """Raise `PromptError` (a ValueError listing the understood words) if the model cannot draw it."""
        parse_prompt(prompt)

    @torch.no_grad()
    def encode_prompt(self, prompts: list[str], negative_prompts: list[str] | None = None) -> PromptEmbeds:
        """Encode prompts and their negatives (default: the empty prompt, as trained for guidance).

        Raises:
            PromptError: If any prompt or negative prompt has a word the model does not know.
        """
        negatives = negative_prompts if negative_prompts is not None else [""] * len(prompts)
        if len(negatives) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(negatives)} negative prompts.")
        ids = self.text_encoder.tokenize([*prompts, *negatives])
        embeds, mask = self.text_encoder(ids)
        dtype = self.transformer.dtype
        n = len(prompts)
        return PromptEmbeds(
            embeds[:n].to(dtype), mask[:n].to(dtype), embeds[n:].to(dtype), mask[n:].to(dtype)
        )

    def prepare_timesteps(self, num_steps: int) -> torch.Tensor:
        """Set the scheduler for `num_steps` steps and return its timesteps (sigma * 1000, descending).

        Sigmas are spaced evenly from 1 down to 1/num_steps, so no step is spent at sigma ~ 0.
        """
        if num_steps < 1:
            raise ValueError(f"num_steps must be at least 1, got {num_steps}.")
        sigmas = np.linspace(1.0, 1.0 / num_steps, num_steps).tolist()
        self.scheduler.set_timesteps(sigmas=sigmas, device=self._execution_device)
        return torch.as_tensor(self.scheduler.timesteps)

    def prepare_latents(
        self,
        batch: int,
        height: int,
        width: int,
        generator: torch.Generator | list[torch.Generator] | None = None,
    ) -> torch.Tensor:
        """Initial noise, (batch, 4, height/4, width/4).

        Args:
            generator: One generator, or one per image so that an image depends on its seed alone and not
                on the batch it was made in. Noise is drawn on the CPU, so a seed gives the same image on
                any device.
        """
        self.check_size(height, width)
        shape = (
            self.vae.config["latent_channels"],
            height // self.vae_scale_factor,
            width // self.vae_scale_factor,
        )
        if isinstance(generator, list):
            if len(generator) != batch:
                raise ValueError(f"{len(generator)} generators for a batch of {batch}.")
            noise = torch.stack([torch.randn(shape, generator=g, device=g.device) for g in generator])
        else:
            noise = torch.randn((batch, *shape), generator=generator)
        return noise.to(device=self._execution_device, dtype=self.transformer.dtype)

    def expert_for(self, timestep: torch.Tensor | float) -> PixArtTransformer2DModel:
        """The transformer that denoises at `timestep`: `transformer_2` below the boundary, if present."""
        if self.transformer_2 is None:
            return self.transformer
        boundary = self.config["boundary_ratio"] * self.scheduler.config["num_train_timesteps"]
        return self.transformer if float(timestep) >= boundary else self.transformer_2

    @torch.no_grad()
    def denoise_step(
        self,
        latents: torch.Tensor,
        t: torch.Tensor,
        step_index: int,
        cond: PromptEmbeds,
        guidance_scale: float = DEFAULT_GUIDANCE,
    ) -> torch.Tensor:
        """One Euler step of the flow from `t` to the next timestep.

        Args:
            latents: Current (B, 4, h, w) latents.
            t: `timesteps[step_index]` from `prepare_timesteps`.
            step_index: Position of this step; steps must run in order (the scheduler keeps the index, and
                a mismatch raises rather than silently stepping with the wrong sigma).
            cond: From `encode_prompt`.
            guidance_scale: Classifier-free guidance; > 1 runs negative and positive in one batch of 2B.

        Returns:
            The latents at the next timestep.
        """
        expected = self.scheduler.step_index if self.scheduler.step_index is not None else 0
        if step_index != expected:
            raise ValueError(
                f"denoise_step got step_index={step_index} but the scheduler is at step {expected}."
            )
        guided = guidance_scale > 1.0
        embeds, mask = cond.for_guidance(guided)
        model_input = torch.cat([latents, latents]) if guided else latents
        timestep = t.expand(model_input.shape[0]).to(self.transformer.dtype)
        velocity = self.expert_for(t)(
            model_input,
            encoder_hidden_states=embeds,
            encoder_attention_mask=mask,
            timestep=timestep,
            added_cond_kwargs={"resolution": None, "aspect_ratio": None},
            return_dict=False,
        )[0]
        if guided:
            negative, positive = velocity.chunk(2)
            velocity = negative + guidance_scale * (positive - negative)
        stepped = self.scheduler.step(velocity, cast(Any, t), cast(Any, latents), return_dict=False)
        return cast(torch.Tensor, stepped[0])

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> list[Image.Image]:
        """Latents to RGB PIL images."""
        return _to_pil(self.decode_tensor(latents))

    @torch.no_grad()
    def decode_tensor(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents to (B, 3, H, W) float images in [-1, 1]."""
        config = self.vae.config
        latents = latents.to(self.vae.dtype) / config["scaling_factor"] + (config["shift_factor"] or 0.0)
        return self.vae.decode(latents, return_dict=False)[0].clamp(-1, 1)

    # -- the whole run ----------------------------------------------------------------------------------

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        negative_prompt: str | list[str] | None = None,
        num_inference_steps: int = DEFAULT_STEPS,
        guidance_scale: float = DEFAULT_GUIDANCE,
        height: int | None = None,
        width: int | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        output_type: Literal["pil", "pt", "latent"] = "pil",
    ) -> ImagePipelineOutput:
        """Generate one image per prompt by running the stages in order.

        Returns:
            `ImagePipelineOutput` whose `images` are PIL images, a (B, 3, H, W) tensor in [0, 1] for
            "pt", or the final latents for "latent".
        """
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        negatives = [negative_prompt] * len(prompts) if isinstance(negative_prompt, str) else negative_prompt
        height = height or self.native_size
        width = width or self.native_size
        for text in [*prompts, *(negatives or [])]:
            self.validate_prompt(text)
        cond = self.encode_prompt(prompts, negatives)
        timesteps = self.prepare_timesteps(num_inference_steps)
        latents = self.prepare_latents(len(prompts), height, width, generator)
        for index, t in enumerate(timesteps):
            latents = self.denoise_step(latents, t, index, cond, guidance_scale)
        images: Any
        if output_type == "latent":
            images = latents
        elif output_type == "pt":
            images = (self.decode_tensor(latents) + 1) / 2
        else:
            images = self.decode(latents)
        self.maybe_free_model_hooks()
        return ImagePipelineOutput(images=images)


def _to_pil(images: torch.Tensor) -> list[Image.Image]:
    array = (
        ((images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    )
    return [Image.fromarray(row) for row in array]


def load_pipeline(
    variant: Literal["single", "dual"] = "single",
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> ShapesPipeline:
    """Load a shipped variant from the package directory (no network: the path is local)."""
    path = MODEL_DIR if variant == "single" else DUAL_MODEL_DIR
    # low_cpu_mem_usage=False: the model is 3 MB, and it spares a warning about the optional `accelerate`
    pipe = ShapesPipeline.from_pretrained(path, dtype=dtype, local_files_only=True, low_cpu_mem_usage=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def build_untrained_pipeline(seed: int = 0, dual: bool = False) -> ShapesPipeline:
    """A randomly initialised pipeline with the shipped architecture, for tests and for training.

    Args:
        seed: Seeds the initial weights.
        dual: Add a `transformer_2` expert and a boundary at `DEFAULT_BOUNDARY_RATIO`.
    """
    torch.manual_seed(seed)
    transformer = PixArtTransformer2DModel(**TRANSFORMER_CONFIG)
    transformer_2 = PixArtTransformer2DModel(**TRANSFORMER_CONFIG) if dual else None
    vae = AutoencoderKL(**VAE_CONFIG)
    text_encoder = PromptEncoder(**TEXT_ENCODER_CONFIG)
    scheduler = FlowMatchEulerDiscreteScheduler(**SCHEDULER_CONFIG)
    pipe = ShapesPipeline(
        transformer=transformer,
        vae=vae,
        scheduler=scheduler,
        text_encoder=text_encoder,
        transformer_2=transformer_2,
        boundary_ratio=DEFAULT_BOUNDARY_RATIO if dual else None,
    )
    for module in (transformer, transformer_2, vae, text_encoder):
        if module is not None:
            module.eval()  # as from_pretrained leaves them; training turns on train() itself
    pipe.set_progress_bar_config(disable=True)
    return pipe
