"""Sampling in torch with diffusers' DDIM and Euler schedules, to check the model and compare with diffuse.

    /usr/bin/python3 training/sample.py -m models/demo.safetensors -p "a red circle on a blue background" -o /tmp/t.png
The same seed gives the same starting noise as diffusers and diffuse (torch's CPU generator).
"""
import argparse
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402
import safetensors_io  # noqa: E402
from tokenizer import ClipTokenizer  # noqa: E402

SCALE = 0.18215  # SD1's latent scaling factor, which diffuse applies to every SD1 single file


def config_from_state(sd):
    """Recovers Config (widths, depths) from tensor shapes, as diffuse does."""
    p = "model.diffusion_model."
    mc = sd[p + "input_blocks.0.0.weight"].shape[0]
    levels, mult, blocks = [], [], 0
    i = 1
    while p + f"input_blocks.{i}.0.in_layers.2.weight" in sd or p + f"input_blocks.{i}.0.op.weight" in sd:
        i += 1
    n_input = i
    # res blocks per level: count input blocks before the first downsample
    first_down = next(j for j in range(1, n_input) if p + f"input_blocks.{j}.0.op.weight" in sd)
    blocks = first_down - 1
    j = 1
    level = 0
    while j < n_input:
        w = sd[p + f"input_blocks.{j}.0.out_layers.3.weight"]
        mult.append(w.shape[0] // mc)
        if p + f"input_blocks.{j}.1.proj_in.weight" in sd:
            levels.append(level)
        j += blocks + 1
        level += 1
    t = "cond_stage_model.transformer.text_model."
    text_layers = len({k.split(".")[5] for k in sd if k.startswith(t + "encoder.layers.")})
    v = "first_stage_model.encoder."
    vae_levels = len({k.split(".")[3] for k in sd if k.startswith(v + "down.")})
    vae_blocks = len({k.split(".")[5] for k in sd if k.startswith(v + "down.0.block.")})
    widths = [sd[v + f"down.{i}.block.0.conv1.weight"].shape[0] for i in range(vae_levels)]
    vc = math.gcd(*widths)
    vae_mult = tuple(w // vc for w in widths)
    return M.Config(text_hidden=sd[t + "final_layer_norm.weight"].shape[0], text_layers=text_layers,
                    text_intermediate=sd[t + "encoder.layers.0.mlp.fc1.weight"].shape[0],
                    unet_channels=mc, unet_mult=tuple(mult), unet_res_blocks=blocks,
                    unet_attention_levels=tuple(levels), vae_channels=vc, vae_mult=vae_mult, vae_res_blocks=vae_blocks,
                    latent_channels=sd["first_stage_model.post_quant_conv.weight"].shape[0])


def load_model(path):
    tensors, meta = safetensors_io.load(path)
    tensors = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    net = M.StableDiffusion(config_from_state(tensors))
    net.load_state_dict({k: v for k, v in tensors.items() if k not in ("betas", "alphas_cumprod", "alphas_cumprod_prev")})
    return net.eval(), meta


def ddim_timesteps(steps, train_steps=1000, offset=1):
    ratio = train_steps // steps
    return [i * ratio + offset for i in reversed(range(steps))], ratio


@torch.no_grad()
def sample(net, prompts, seed=42, steps=20, cfg=5.0, sampler="euler", size=64, tokenizer=None, negative=""):
    """Generates one image per prompt (seed + i), returns uint8 N x H x W x 3."""
    tokenizer = tokenizer or ClipTokenizer()
    _, alphas_cumprod = M.ddpm_schedule()
    images = []
    for i, prompt in enumerate(prompts):
        ids = torch.tensor([tokenizer.encode_padded(negative), tokenizer.encode_padded(prompt)])
        context = net.cond_stage_model(ids)
        g = torch.Generator().manual_seed(seed + i)
        f = net.config.latent_factor
        x = torch.randn((1, net.config.latent_channels, size // f, size // f), generator=g)

        def eps(x_in, t):
            out = net.unet(torch.cat([x_in, x_in]), torch.tensor([t, t], dtype=torch.float32), context)
            u, c = out.chunk(2)
            return u + cfg * (c - u) if cfg > 1 else c

        if sampler == "ddim":
            ts, ratio = ddim_timesteps(steps)
            for t in ts:
                a = alphas_cumprod[t]
                a_prev = alphas_cumprod[t - ratio] if t - ratio >= 0 else alphas_cumprod[0]
                e = eps(x, t)
                x0 = (x - (1 - a).sqrt() * e) / a.sqrt()
                x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * e
        elif sampler == "euler":
            ts = np.linspace(0, 999, steps)[::-1].copy()
            table = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
            sig = np.interp(ts, np.arange(1000), table.numpy()).tolist() + [0.0]
            x = x * max(sig)
            for j, t in enumerate(ts):
                s = sig[j]
                e = eps(x / (s * s + 1) ** 0.5, float(t))
                x = x + e * (sig[j + 1] - s)
        else:
            raise ValueError(sampler)
        img = net.vae.decode(x / SCALE)
        img = ((img / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
        images.append(img)
    return np.stack(images)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("-p", "--prompt", action="append", required=True)
    ap.add_argument("-s", "--seed", type=int, default=42)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cfg-scale", type=float, default=5.0)
    ap.add_argument("--sampling-method", default="euler", choices=["euler", "ddim"])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("-o", "--output", default="sample.png")
    args = ap.parse_args()
    torch.set_num_threads(1)  # 1: OpenMP spin-waits crawl on a shared 2-core machine
    net, _ = load_model(args.model)
    imgs = sample(net, args.prompt, args.seed, args.steps, args.cfg_scale, args.sampling_method, args.size)
    from PIL import Image
    Image.fromarray(np.concatenate(list(imgs), axis=1)).save(args.output)
    print("wrote", args.output)


if __name__ == "__main__":
    main()
