"""Train the embedded shapes model from procedural data: autoencoder, transformer + prompt encoder, the two
experts of the dual variant, and the judging classifier. Nothing is downloaded.

    python -m backend.models.train_shapes --out backend/models --device cuda --seed 0

Phases run in order, each seeded from `--seed`: (1) `AutoencoderKL` on rendered images; (2) the
`PixArtTransformer2DModel` and `PromptEncoder` jointly, rectified flow on the autoencoder's latents,
prompts dropped 10% of the time for classifier-free guidance, EMA weights kept; (3) two copies of the
phase-2 transformer fine-tuned as high- and low-noise experts on either side of the boundary; (4) the
classifier. Weights are written in fp16 as `shapes/`, `shapes_dual/` and `classifier/` under `--out`.
GPU kernels are not bitwise deterministic, so a rerun matches in data, initialisation and schedule, and
in quality, not to the last bit.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
from diffusers.models.transformers.pixart_transformer_2d import PixArtTransformer2DModel

from backend.models.classifier import HEADS, ShapeClassifier
from backend.models.prompt_encoder import PromptEncoder
from backend.models.quality import evaluate, quality_prompts
from backend.models.shapes_data import ShapeSampler
from backend.models.shapes_pipeline import ShapesPipeline, build_untrained_pipeline

PROMPT_DROPOUT = 0.1


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _schedule(
    optimizer: torch.optim.Optimizer, steps: int, warmup: int = 200
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine decay to 10% of the peak rate."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.45 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Ema:
    """Exponential moving average of parameters, with the usual short-horizon warm-up."""

    def __init__(self, modules: Iterable[torch.nn.Module], decay: float = 0.999) -> None:
        self.modules = list(modules)
        self.copies = [copy.deepcopy(m).requires_grad_(False) for m in self.modules]
        self.decay = decay
        self.step = 0

    @torch.no_grad()
    def update(self) -> None:
        self.step += 1
        decay = min(self.decay, (1 + self.step) / (10 + self.step))
        for module, average in zip(self.modules, self.copies, strict=True):
            torch._foreach_lerp_(list(average.parameters()), list(module.parameters()), 1 - decay)


def _steps(count: int, every: int, name: str) -> Iterator[int]:
    start = time.perf_counter()
    for step in range(count):
        yield step
        if (step + 1) % every == 0 or step + 1 == count:
            elapsed = time.perf_counter() - start
            _log(f"{name} {step + 1}/{count} ({elapsed:.0f} s, {1000 * elapsed / (step + 1):.1f} ms/step)")


def train_vae(vae: AutoencoderKL, sampler: ShapeSampler, steps: int, batch: int, seed: int) -> float:
    """Reconstruction (MSE + L1) with a light KL term; returns the final smoothed loss."""
    generator = torch.Generator(sampler.device).manual_seed(seed)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    lr = _schedule(optimizer, steps)
    smoothed: torch.Tensor | float = 0.0
    vae.train()
    for step in _steps(steps, 500, "vae"):
        images = sampler.sample(batch, generator).images
        with torch.autocast(sampler.device.type, dtype=torch.bfloat16, enabled=sampler.device.type == "cuda"):
            posterior = vae.encode(images).latent_dist
            recon = vae.decode(posterior.sample(generator=generator)).sample.float()
        loss = F.mse_loss(recon, images) + 0.1 * F.l1_loss(recon, images) + 1e-6 * posterior.kl().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        lr.step()
        smoothed = 0.98 * smoothed + 0.02 * loss.detach() if step else loss.detach()
        if (step + 1) % 500 == 0:
            _log(f"vae loss {float(smoothed):.5f}")
    vae.eval()
    return float(smoothed)


@torch.no_grad()
def calibrate_latents(vae: AutoencoderKL, sampler: ShapeSampler, seed: int) -> None:
    """Store the latent mean and 1/std as `shift_factor` / `scaling_factor`, so diffusion sees unit-scale
    latents."""
    generator = torch.Generator(sampler.device).manual_seed(seed)
    latents = torch.cat(
        [vae.encode(sampler.sample(512, generator).images).latent_dist.mode() for _ in range(4)]
    )
    vae.register_to_config(shift_factor=latents.mean().item(), scaling_factor=1.0 / latents.std().item())
    _log(f"latent shift {vae.config['shift_factor']:.4f} scale {vae.config['scaling_factor']:.4f}")


class LatentPool:
    """A fixed pool of encoded training samples, drawn once from the procedural data.

    Rendering and encoding every step made training launch-bound (~40 ms a step at batch 256); encoding
    the pool once in big chunks lets the denoiser phases run large batches of pure transformer work.
    """

    def __init__(
        self, vae: AutoencoderKL, sampler: ShapeSampler, size: int, seed: int, chunk: int = 4096
    ) -> None:
        generator = torch.Generator(sampler.device).manual_seed(seed)
        latents, tokens = [], []
        with (
            torch.no_grad(),
            torch.autocast(sampler.device.type, torch.bfloat16, enabled=sampler.device.type == "cuda"),
        ):
            for start in range(0, size, chunk):
                data = sampler.sample(min(chunk, size - start), generator)
                latents.append(vae.encode(data.images).latent_dist.mode().float())
                tokens.append(data.tokens)
        self.latents = (torch.cat(latents) - vae.config["shift_factor"]) * vae.config["scaling_factor"]
        self.tokens = torch.cat(tokens)
        _log(f"latent pool of {size} samples ready")

    def batch(self, size: int, generator: torch.Generator) -> FlowBatch:
        rows = torch.randint(0, self.latents.shape[0], (size,), generator=generator, device=generator.device)
        return FlowBatch(self.latents[rows], self.tokens[rows], generator)


class FlowBatch:
    """Latents, noise and (possibly dropped) prompt tokens for one rectified-flow step."""

    def __init__(self, clean: torch.Tensor, tokens: torch.Tensor, generator: torch.Generator) -> None:
        self.clean = clean
        self.noise = torch.randn(self.clean.shape, generator=generator, device=generator.device)
        tokens = tokens.clone()
        dropped = torch.rand(tokens.shape[0], generator=generator, device=generator.device) < PROMPT_DROPOUT
        tokens[dropped, 1:] = 0  # keep only the start token: the empty prompt
        self.tokens = tokens

    def sigmas(self, generator: torch.Generator, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        """Logit-normal sigmas restricted to [low, high) by inverse-CDF sampling."""
        batch = self.clean.shape[0]

        def cdf(x: float) -> float:
            return 0.5 * (1 + math.erf(math.log(x / (1 - x)) / math.sqrt(2))) if 0 < x < 1 else float(x >= 1)

        u = cdf(low) + (cdf(high) - cdf(low)) * torch.rand(
            batch, generator=generator, device=generator.device
        )
        return torch.sigmoid(torch.special.ndtri(u.clamp(1e-6, 1 - 1e-6)))

    def loss(
        self,
        transformer: PixArtTransformer2DModel,
        text_encoder: PromptEncoder,
        sigma: torch.Tensor,
        rows: torch.Tensor | slice = slice(None),
    ) -> torch.Tensor:
        """Velocity-prediction MSE on the selected rows."""
        clean, noise, s = self.clean[rows], self.noise[rows], sigma[:, None, None, None]
        noisy = (1 - s) * clean + s * noise
        embeds, mask = text_encoder(self.tokens[rows])
        with torch.autocast(noisy.device.type, dtype=torch.bfloat16, enabled=noisy.device.type == "cuda"):
            velocity = transformer(
                noisy,
                encoder_hidden_states=embeds,
                encoder_attention_mask=mask,
                timestep=sigma * 1000,
                added_cond_kwargs={"resolution": None, "aspect_ratio": None},
                return_dict=False,
            )[0]
        return F.mse_loss(velocity.float(), noise - clean)


def train_denoiser(pipe: ShapesPipeline, pool: LatentPool, steps: int, batch: int, seed: int) -> float:
    """Transformer and prompt encoder together; the EMA weights replace the live ones at the end."""
    generator = torch.Generator(pool.latents.device).manual_seed(seed)
    modules = [pipe.transformer, pipe.text_encoder]
    params = [p for m in modules for p in m.parameters()]
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01, fused=params[0].is_cuda)
    lr = _schedule(optimizer, steps, warmup=500)
    ema = Ema(modules)
    smoothed: torch.Tensor | float = 0.0
    for module in modules:
        module.train()
    for step in _steps(steps, 1000, "denoiser"):
        flow = pool.batch(batch, generator)
        loss = flow.loss(pipe.transformer, pipe.text_encoder, flow.sigmas(generator))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        lr.step()
        ema.update()
        smoothed = 0.99 * smoothed + 0.01 * loss.detach() if step else loss.detach()
        if (step + 1) % 1000 == 0:
            _log(f"denoiser loss {float(smoothed):.4f}")
    for module, average in zip(modules, ema.copies, strict=True):
        module.load_state_dict(average.state_dict())
        module.eval()
    return float(smoothed)


def train_experts(
    pipe: ShapesPipeline, base: ShapesPipeline, pool: LatentPool, steps: int, batch: int, seed: int
) -> tuple[float, float]:
    """Fine-tune copies of the base transformer on sigma >= boundary (high) and < boundary (low).

    The prompt encoder stays frozen and shared, so both experts read the same embeddings.
    """
    generator = torch.Generator(pool.latents.device).manual_seed(seed)
    high, low = pipe.transformer, pipe.transformer_2
    assert low is not None
    high.load_state_dict(base.transformer.state_dict())
    low.load_state_dict(base.transformer.state_dict())
    pipe.text_encoder.load_state_dict(base.text_encoder.state_dict())
    pipe.text_encoder.requires_grad_(False).eval()
    params = [*high.parameters(), *low.parameters()]
    optimizer = torch.optim.AdamW(params, lr=3e-4, weight_decay=0.01, fused=params[0].is_cuda)
    lr = _schedule(optimizer, steps)
    ema = Ema([high, low])
    boundary = pipe.config["boundary_ratio"]
    half = batch // 2
    smoothed: list[torch.Tensor | float] = [0.0, 0.0]
    high.train()
    low.train()
    for step in _steps(steps, 1000, "experts"):
        flow = pool.batch(batch, generator)
        sigma = torch.cat(
            [flow.sigmas(generator, boundary, 1.0)[:half], flow.sigmas(generator, 0.0, boundary)[half:]]
        )
        losses = [
            flow.loss(high, pipe.text_encoder, sigma[:half], slice(0, half)),
            flow.loss(low, pipe.text_encoder, sigma[half:], slice(half, None)),
        ]
        optimizer.zero_grad(set_to_none=True)
        torch.stack(losses).sum().backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        lr.step()
        ema.update()
        for i, loss in enumerate(losses):
            smoothed[i] = 0.99 * smoothed[i] + 0.01 * loss.detach() if step else loss.detach()
        if (step + 1) % 1000 == 0:
            _log(f"experts loss high {float(smoothed[0]):.4f} low {float(smoothed[1]):.4f}")
    for module, average in zip([high, low], ema.copies, strict=True):
        module.load_state_dict(average.state_dict())
        module.eval()
    return float(smoothed[0]), float(smoothed[1])


def _augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Blur, noise and a brightness shift, so the judge also reads slightly soft generated images."""
    batch, device = images.shape[0], images.device
    kernel = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=device)
    kernel = (kernel[:, None] * kernel[None, :] / 256).expand(3, 1, 5, 5)
    blurred = F.conv2d(F.pad(images, (2, 2, 2, 2), mode="replicate"), kernel, groups=3)
    amount = torch.rand(batch, 1, 1, 1, generator=generator, device=device)
    images = images + amount * (blurred - images)
    noise = torch.randn(images.shape, generator=generator, device=device)
    images = images + 0.08 * torch.rand(batch, 1, 1, 1, generator=generator, device=device) * noise
    return images + 0.1 * (torch.rand(batch, 1, 1, 1, generator=generator, device=device) - 0.5)


def train_classifier(
    sampler: ShapeSampler, steps: int, batch: int, seed: int
) -> tuple[ShapeClassifier, float]:
    """Cross-entropy on all four heads; returns the model and its accuracy (colour and shape) on fresh data."""
    torch.manual_seed(seed)
    model = ShapeClassifier().to(sampler.device)
    generator = torch.Generator(sampler.device).manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    lr = _schedule(optimizer, steps)
    for _step in _steps(steps, 500, "classifier"):
        data = sampler.sample(batch, generator)
        logits = model(_augment(data.images, generator))
        loss = torch.stack([F.cross_entropy(logits[name], getattr(data, name)) for name in HEADS]).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        lr.step()
    model.eval()
    with torch.no_grad():
        data = sampler.sample(2048, generator)
        logits = model(_augment(data.images, generator))
        right = (logits["colour"].argmax(1) == data.colour) & (logits["shape"].argmax(1) == data.shape)
    return model, right.float().mean().item()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent, help="directory for the model dirs"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=1024, help="denoiser and expert batch")
    parser.add_argument("--pool", type=int, default=500_000, help="encoded training samples")
    parser.add_argument("--vae-steps", type=int, default=2000)
    parser.add_argument("--vae-batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8000, help="denoiser steps")
    parser.add_argument("--expert-steps", type=int, default=2000)
    parser.add_argument("--classifier-steps", type=int, default=1000)
    parser.add_argument(
        "--eval-count", type=int, default=200, help="samples per guidance scale in the final eval"
    )
    parser.add_argument(
        "--phase",
        choices=("all", "base", "rest"),
        default="all",
        help="base: autoencoder + denoiser only; rest: experts + classifier from the saved base (the two halves "
        "of 'all', for machines that cap one command's time)",
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    device = torch.device(args.device)
    sampler = ShapeSampler(device)
    summary_path = args.out / "training_summary.json"
    summary: dict[str, object] = json.loads(summary_path.read_text()) if args.phase == "rest" else {}
    summary[f"args_{args.phase}"] = {k: str(v) for k, v in vars(args).items() if k != "out"}
    if device.type == "cuda":
        summary["card"] = torch.cuda.get_device_name(device)
    args.out.mkdir(parents=True, exist_ok=True)

    if args.phase in ("all", "base"):
        single = build_untrained_pipeline(args.seed).to(device)
        summary["vae_loss"] = train_vae(single.vae, sampler, args.vae_steps, args.vae_batch, args.seed + 1)
        calibrate_latents(single.vae, sampler, args.seed + 2)
        single.vae.requires_grad_(False)
        pool = LatentPool(single.vae, sampler, args.pool, args.seed + 6)
        summary["denoiser_loss"] = train_denoiser(single, pool, args.steps, args.batch, args.seed + 3)
        _save(single, args.out / "shapes")
    else:
        single = ShapesPipeline.from_pretrained(args.out / "shapes", dtype=torch.float32).to(device)
        single.vae.requires_grad_(False)
        pool = LatentPool(single.vae, sampler, args.pool, args.seed + 6)

    if args.phase in ("all", "rest"):
        dual = build_untrained_pipeline(args.seed, dual=True).to(device)
        dual.register_modules(vae=single.vae)
        summary["expert_losses"] = train_experts(
            dual, single, pool, args.expert_steps, args.batch, args.seed + 4
        )
        classifier, accuracy = train_classifier(sampler, args.classifier_steps, 512, args.seed + 5)
        summary["classifier_accuracy_on_renders"] = accuracy
        _log(f"classifier accuracy on fresh renders {accuracy:.4f}")
        prompts = quality_prompts(args.eval_count)
        for name, pipe in (("single", single), ("dual", dual)):
            for scale in (1.0, 2.0, 3.0, 4.0, 5.0):
                report = evaluate(pipe, classifier, prompts, guidance_scale=scale, batch_size=100)
                summary[f"quality_{name}_cfg{scale}"] = report.accuracy
                _log(f"quality {name} cfg {scale}: {report.accuracy:.3f}")
        _save(dual, args.out / "shapes_dual")
        classifier.half().save_pretrained(args.out / "classifier")
    summary[f"seconds_{args.phase}"] = round(time.perf_counter() - started, 1)
    summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    _log(json.dumps(summary))


def _save(pipe: ShapesPipeline, path: Path) -> None:
    """fp16 safetensors (half the bytes; the shipped loader upcasts to fp32 for CPU speed).

    A component loaded from disk remembers its source in `_name_or_path`; that is a path of the training
    machine, so it is dropped from the shipped configs.
    """
    copy.deepcopy(pipe).to(dtype=torch.float16).save_pretrained(path)
    for config_path in path.glob("*/config.json"):
        config = json.loads(config_path.read_text())
        if config.pop("_name_or_path", None) is not None:
            config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
