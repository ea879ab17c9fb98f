"""Writes a training checkpoint as an SD 1.x single-file .safetensors (fp16, CompVis names) for diffuse.

    /usr/bin/python3 training/export.py training/runs/demo models/demo.safetensors [--raw] [--steps N ...]

Works from any checkpoint of a run, finished or not: it takes diffusion.pt's EMA weights (--raw: the
live weights) and the autoencoder already folded to SD1's 0.18215 latent scale. The defaults a user
gets without flags (size, steps, sampler, CFG) travel in the file's __metadata__.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402
import safetensors_io  # noqa: E402
import train  # noqa: E402


def export(run_dir, path, raw=False, steps=20, sampler="euler", cfg=3.0, note=""):
    ck = torch.load(os.path.join(run_dir, "diffusion.pt"))
    config = train.config_from_dict(ck["config"])
    net = M.StableDiffusion(config)
    net.load_state_dict(ck["model" if raw else "ema"])
    # The folded autoencoder lives in latents.pt; diffusion.pt holds the same weights, taken from it.
    # finetune_decoder.py's decoder.pt, when present, is the same encoder with a better-trained decoder.
    vae_source = "decoder.pt" if os.path.exists(os.path.join(run_dir, "decoder.pt")) else "latents.pt"
    net.first_stage_model.load_state_dict(torch.load(os.path.join(run_dir, vae_source))["vae"])
    tensors = {}
    for k, v in net.state_dict().items():
        tensors[k] = v.half() if v.is_floating_point() else v  # position_ids stay int64, as in SD files
    betas, alphas_cumprod = M.ddpm_schedule()
    # Real SD1 checkpoints carry the DDPM schedule buffers; loaders ignore them, the layout keeps them.
    tensors["betas"] = betas.half()
    tensors["alphas_cumprod"] = alphas_cumprod.half()
    tensors["alphas_cumprod_prev"] = torch.cat([torch.ones(1), alphas_cumprod[:-1]]).half()
    counts = {
        "text_encoder": M.count_parameters(net.cond_stage_model),
        "unet": M.count_parameters(net.model),
        "vae": M.count_parameters(net.first_stage_model),
    }
    metadata = {
        "diffuse.name": "diffuse-demo",
        "diffuse.description": "A tiny SD 1.x-layout model trained by diffuse's training/ on procedural 64x64 "
                               "scenes: one or two shapes (circle, square, triangle, star, heart) in 8 colours "
                               "on a plain background, placed by position words. "
                               "Try \"a red circle on a blue background\". " + note,
        "diffuse.default_width": 64,
        "diffuse.default_height": 64,
        "diffuse.default_steps": steps,
        "diffuse.default_sampler": sampler,
        "diffuse.default_cfg_scale": cfg,
        "diffuse.latent_scaling_factor": train.LATENT_SCALE,
        "diffuse.training_steps": ck["step"],
        "diffuse.parameters": " ".join(f"{k}={v}" for k, v in counts.items()),
        "format": "pt",
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    safetensors_io.save(path, tensors, metadata)
    print(f"wrote {path}: {os.path.getsize(path) / 1e6:.1f} MB, step {ck['step']}, autoencoder from {vae_source}, {counts}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("output")
    ap.add_argument("--raw", action="store_true", help="the live weights instead of the EMA")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--sampler", default="euler")
    ap.add_argument("--cfg", type=float, default=3.0)
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    export(args.run_dir, args.output, args.raw, args.steps, args.sampler, args.cfg, args.note)


if __name__ == "__main__":
    main()
