"""Trains the demo model from scratch: autoencoder, then latents, then UNet + text encoder.

    /usr/bin/python3 training/train.py --out training/runs/demo            # the whole run
    /usr/bin/python3 training/train.py --out training/runs/demo --resume   # continue after a stop
    /usr/bin/python3 training/train.py --out /tmp/smoke --smoke            # seconds, for CI
    /usr/bin/python3 training/export.py training/runs/demo models/demo.safetensors

Stages, each with its checkpoint in --out (a stage whose checkpoint says done is skipped on --resume):
  1. vae.pt        KL autoencoder on renders: L1 + image-gradient L1 (crisp edges) + a small KL term.
  2. latents.pt    a fixed set of scenes encoded to latent means, normalised to unit std per channel;
                   the normalisation is folded into quant_conv/post_quant_conv so that SD1's fixed
                   scale 0.18215 (what diffuse applies to any SD1 file) gives unit-std latents.
  3. diffusion.pt  UNet + CLIP text encoder jointly, epsilon prediction, SD1's scaled_linear schedule,
                   10% empty captions (classifier-free guidance), EMA weights (what export ships).
Every random draw comes from generators seeded by (--seed, step), so a resumed run is the same run.
"""
import argparse
import copy
import json
import math
import os
import random
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # OpenBLAS threads fight torch's on 2 cores: 1.8x slower
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import model as M  # noqa: E402
import safetensors_io  # noqa: E402
from tokenizer import ClipTokenizer  # noqa: E402

LATENT_SCALE = 0.18215


def full_config():
    # 64x64 images, a factor-4 autoencoder (3 levels, 64/64/128): 16x16x4 latents. At factor 8 (8x8x4) the
    # autoencoder could not keep small objects' colour and shape in this budget (round trips of the
    # ground-truth renders: colour 11%, shape 17%), so neither could the UNet draw them.
    # UNet 32/64/128/128 at 16/8/4/2, one res block per level, cross-attention at 8x8 and 4x4 and in the
    # middle (as SDXL, none at the top level, which would cost 3x): ~0.37 s per batch of 16 on one core.
    return M.Config(text_hidden=64, text_layers=2, text_intermediate=256,
                    unet_channels=32, unet_mult=(1, 2, 4, 4), unet_res_blocks=1, unet_attention_levels=(1, 2),
                    vae_channels=32, vae_mult=(2, 2, 4), vae_res_blocks=1)


def smoke_config():
    # The full model's shape family (factor-4 autoencoder, no attention at the top level), narrower.
    return M.Config(text_hidden=64, text_layers=2, text_intermediate=128,  # diffuse needs >= 2 layers
                    unet_channels=32, unet_mult=(1, 1, 1, 1), unet_res_blocks=1, unet_attention_levels=(1, 2),
                    vae_channels=32, vae_mult=(1, 1, 1), vae_res_blocks=1)


def config_to_dict(c):
    return {k: list(v) if isinstance(v, tuple) else v for k, v in c.__dict__.items()}


def config_from_dict(d):
    return M.Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


class Progress:
    """Prints step, smoothed losses, speed and ETA every `every` steps."""

    def __init__(self, name, start, total, every):
        self.name, self.start, self.total, self.every = name, start, total, every
        self.t0, self.sums, self.n = time.time(), {}, 0

    def update(self, step, **losses):
        for k, v in losses.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.n += 1
        if (step + 1) % self.every == 0 or step + 1 == self.total:
            rate = (time.time() - self.t0) / max(1, step + 1 - self.start)
            eta = rate * (self.total - step - 1)
            text = " ".join(f"{k} {v / self.n:.4f}" for k, v in self.sums.items())
            print(f"[{self.name}] step {step + 1}/{self.total} {text} {rate:.2f} s/it "
                  f"ETA {int(eta // 60)}m{int(eta % 60):02d}s", flush=True)
            self.sums, self.n = {}, 0


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup))))


def save(path, obj):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)  # a kill mid-write never leaves a broken checkpoint


def to_tensor(images):
    """uint8 N x H x W x 3 -> float N x 3 x H x W in [-1, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


# --- stage 1: autoencoder -----------------------------------------------------------------------

@torch.no_grad()
def init_vae(vae, config, k=8.0):
    """Starting point that lets colour through the two GroupNorms on the autoencoder's main path.

    The residual streams have no normalisation except encoder.norm_out and decoder.norm_out. A
    GroupNorm with one channel per group (32 channels) removes each channel's mean and scale, so a
    flat background's colour cannot pass (the net then smuggles it through blobs, as StyleGAN2's
    "droplets"). Hence 2+ channels per group at those two places (the level-0 and last-level widths),
    and here one channel of each group starts as a large constant "companion": the group's statistics
    are then dominated by it, the norm is close to an affine map, and colour passes from the first step.
    """
    enc_w, dec_w = vae.encoder.norm_out.num_channels, vae.decoder.norm_out.num_channels
    enc_every, dec_every = enc_w // 32, dec_w // 32
    if enc_every >= 2:
        vae.encoder.mid.block_2.conv2.bias[enc_every - 1::enc_every] = k
        vae.encoder.norm_out.weight[enc_every - 1::enc_every] = 0.0
    if dec_every >= 2:
        vae.decoder.up[0].block[-1].conv2.bias[dec_every - 1::dec_every] = k
        vae.decoder.norm_out.weight[dec_every - 1::dec_every] = 0.0
    # A near-deterministic bottleneck at first (latent std ~0.02): with torch's default init the sampled
    # noise (std 1) drowns the small initial means.
    vae.quant_conv.bias[config.latent_channels:] = -8.0


def random_crop(x, size, grid, g):
    """The same size x size crop of every image in the batch, its corner on the latent grid."""
    oy, ox = (int(v) * grid for v in torch.randint(0, (x.shape[-1] - size) // grid + 1, (2,), generator=g))
    return x[..., oy:oy + size, ox:ox + size]


def reconstruction_losses(y, x):
    """L1; the L1 of image gradients (edges, what tells a star from a circle, count beyond their few pixels);
    and the squared error, which weighs a wrong object colour (error ~1) far above the background's small
    errors, where L1 weighs every pixel alike and the background's many pixels win."""
    edge = ((y[..., 1:, :] - y[..., :-1, :]) - (x[..., 1:, :] - x[..., :-1, :])).abs().mean() + \
           ((y[..., 1:] - y[..., :-1]) - (x[..., 1:] - x[..., :-1])).abs().mean()
    return (y - x).abs().mean(), edge, (y - x).square().mean()


def train_vae(args, config, out):
    path = os.path.join(out, "vae.pt")
    vae = M.AutoencoderKL(config)
    init_vae(vae, config)
    opt = torch.optim.AdamW(vae.parameters(), lr=args.vae_lr, weight_decay=0.0)
    step = 0
    if os.path.exists(path):
        ck = torch.load(path)
        vae.load_state_dict(ck["vae"])
        if ck.get("done"):
            print(f"[vae] done ({ck['step']} steps), skipping", flush=True)
            return vae
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        print(f"[vae] resuming at step {step}", flush=True)
    if step >= args.vae_steps:
        return vae
    # The autoencoder sees only training combinations too (held-out pairs stay unseen end to end).
    _, pool = data.make_dataset(args.vae_pool, seed=args.seed * 7 + 1)
    pool = to_tensor(pool)
    progress = Progress("vae", step, args.vae_steps, args.log_every)
    last_save = time.time()
    while step < args.vae_steps:
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        x = pool[torch.randint(0, len(pool), (args.vae_batch,), generator=g)]
        if args.vae_crop < data.IMAGE_SIZE:
            # The autoencoder is convolutional (plus one attention at the latent size): training on crops
            # aligned to the 8-pixel latent grid costs 4x less than whole images and teaches the same edges.
            x = random_crop(x, args.vae_crop, config.latent_factor, g)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.vae_steps, args.vae_lr, 100)
        mean, logvar = vae.encode(x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=g)  # decoder learns to take noise
        y = vae.decode(z)
        rec, edge, _ = reconstruction_losses(y, x)
        kl = 0.5 * (mean.square() + logvar.exp() - 1 - logvar).mean()
        loss = rec + 0.5 * edge + args.kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        progress.update(step, rec=rec.item(), edge=edge.item(), kl=kl.item())
        step += 1
        if time.time() - last_save > args.save_minutes * 60 or step == args.vae_steps:
            save(path, {"vae": vae.state_dict(), "opt": opt.state_dict(), "step": step,
                        "done": step == args.vae_steps, "config": config_to_dict(config)})
            last_save = time.time()
    return vae


@torch.no_grad()
def round_trip_accuracy(vae, n=128, seed=4321):
    """What the analyser reads back from scenes passed through the autoencoder (encode, decode the mean):
    a ceiling on what the UNet can be seen to draw. Fractions per attribute."""
    import evaluate  # imports sample, which needs nothing from here
    rng = random.Random(seed)
    scenes = [data.sample_scene(rng, heldout=rng.random() < 0.15) for _ in range(n)]
    x = to_tensor(np.stack([data.render(s) for s in scenes]))
    y = vae.decode(vae.encode(x)[0])
    images = ((y / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    totals = {}
    for image, scene in zip(images, scenes):
        for k, v in evaluate.score(evaluate.analyse(image), data.labels(scene)).items():
            totals[k] = totals.get(k, 0) + v / n
    return totals


# --- stage 2: latents ---------------------------------------------------------------------------

@torch.no_grad()
def fold_latent_normalisation(vae, mean, std):
    """Makes encode() return (mu - mean) / (std * 0.18215) and decode() undo it, in the weights themselves.

    diffuse (like every SD1 loader) multiplies the VAE's mean by 0.18215 and divides by it before
    decoding; after this fold, 0.18215 * encode(x) has zero mean and unit std per channel.
    """
    k = std * LATENT_SCALE                       # per channel
    n = mean.numel()
    qw, qb = vae.quant_conv.weight, vae.quant_conv.bias   # 2n x 2n x 1 x 1 ; rows [0, n) are the mean
    qw[:n] /= k[:, None, None, None]
    qb[:n] = (qb[:n] - mean) / k
    qb[n:] -= 2 * torch.log(k)                   # logvar of the rescaled latent
    pw, pb = vae.post_quant_conv.weight, vae.post_quant_conv.bias  # n x n x 1 x 1
    pb += (pw[:, :, 0, 0] @ mean)
    pw *= k[None, :, None, None]


@torch.no_grad()
def make_latents(args, config, out, vae):
    path = os.path.join(out, "latents.pt")
    if os.path.exists(path):
        ck = torch.load(path)
        print(f"[latents] {len(ck['latents'])} latents exist, skipping", flush=True)
        vae.load_state_dict(ck["vae"])
        return ck
    t0 = time.time()
    vae.eval()
    scenes, images = data.make_dataset(args.latent_pool, seed=args.seed * 7 + 2)
    means = []
    for i in range(0, len(images), 256):
        means.append(vae.encode(to_tensor(images[i:i + 256]))[0])
        if (i // 256) % 20 == 0:
            print(f"[latents] {i + len(means[-1])}/{len(images)}", flush=True)
    mu = torch.cat(means)
    ch_mean, ch_std = mu.mean(dim=(0, 2, 3)), mu.std(dim=(0, 2, 3))
    fold_latent_normalisation(vae, ch_mean, ch_std)
    latents = (mu - ch_mean[None, :, None, None]) / ch_std[None, :, None, None]  # = 0.18215 * folded mean
    check = vae.encode(to_tensor(images[:64]))[0] * LATENT_SCALE
    print(f"[latents] per-channel mean {ch_mean.tolist()} std {ch_std.tolist()}; after the fold the "
          f"latents have std {check.std().item():.3f} (want ~1); {time.time() - t0:.0f} s", flush=True)
    ck = {"latents": latents.half(), "scenes": scenes, "vae": vae.state_dict(),
          "channel_mean": ch_mean, "channel_std": ch_std}
    save(path, ck)
    return ck


# --- stage 3: UNet + text encoder ---------------------------------------------------------------

@torch.no_grad()
def init_from_export(net, ema, path):
    """Loads an exported model's UNet and text encoder (export.py ships the EMA weights, in fp16) into
    both the live and the EMA weights; returns the step its metadata records, where the run goes on."""
    tensors, meta = safetensors_io.load(path)
    state = net.state_dict()
    trained = [k for k in state if k.startswith(("model.", "cond_stage_model."))]
    missing = [k for k in trained if k not in tensors or tensors[k].shape != state[k].shape]
    if missing:
        sys.exit(f"{path} does not fit this run's config: {len(missing)} tensors missing or of another shape, "
                 f"e.g. {missing[0]}")
    for k in trained:
        state[k] = tensors[k].to(state[k].dtype)
    net.load_state_dict(state)
    ema.load_state_dict(net.state_dict())
    return int(meta.get("diffuse.training_steps", 0))


def train_diffusion(args, config, out, vae, lat):
    path = os.path.join(out, "diffusion.pt")
    net = M.StableDiffusion(config)
    net.first_stage_model.load_state_dict(vae.state_dict())
    params = list(net.cond_stage_model.parameters()) + list(net.model.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    ema = copy.deepcopy(net).eval()
    step = fresh_from = 0  # fresh_from: the step a fresh optimizer started at
    if os.path.exists(path):
        ck = torch.load(path)
        net.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        if ck["step"] >= args.steps:  # a finished run continues when asked for more --steps
            print(f"[diffusion] done ({ck['step']} steps)", flush=True)
            return
        opt.load_state_dict(ck["opt"])
        step, fresh_from = ck["step"], ck.get("fresh_from", 0)
        print(f"[diffusion] resuming at step {step}", flush=True)
    elif args.init_from:
        step = fresh_from = init_from_export(net, ema, args.init_from)
        print(f"[diffusion] starting at step {step} from {args.init_from}'s weights, with a fresh optimizer", flush=True)
    for p in ema.parameters():
        p.requires_grad_(False)
    net.first_stage_model.requires_grad_(False)

    tokenizer = ClipTokenizer()
    latents, scenes = lat["latents"].float(), lat["scenes"]
    _, alphas_cumprod = M.ddpm_schedule()
    snr = alphas_cumprod / (1 - alphas_cumprod)
    if args.loss_weight == "min-snr":
        # Min-SNR-5 (Hang et al. 2023): the easy low-noise steps stop dominating; converges faster.
        weight = torch.clamp(snr, max=5.0) / snr
    else:
        # Truncated x0 weighting, 1/SNR up to 20: the eps error at high noise is SNR x the x0 error, so
        # plain eps loss hardly rewards getting the picture's layout and colours (decided at high noise,
        # where the caption matters) right; measured here: conditioning lowered the eps loss at t=950 by 1%.
        weight = torch.clamp(1.0 / snr, max=20.0)
    progress = Progress("diffusion", step, args.steps, args.log_every)
    last_save = time.time()

    def checkpoint(done=False):
        save(path, {"model": net.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step,
                    "fresh_from": fresh_from,
                    "done": done, "config": config_to_dict(config), "args": vars(args)})

    while step < args.steps:
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + 500_000 + step)
        rng = random.Random(args.seed * 1_000_003 + 500_000 + step)
        idx = torch.randint(0, len(latents), (args.batch,), generator=g)
        x0 = latents[idx]
        captions = [data.caption(scenes[i], rng) if rng.random() >= args.caption_dropout else "" for i in idx.tolist()]
        ids = torch.tensor([tokenizer.encode_padded(c) for c in captions])
        t = torch.randint(0, 1000, (args.batch,), generator=g)
        noise = torch.randn(x0.shape, generator=g)
        a = alphas_cumprod[t][:, None, None, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr, args.warmup)
            if fresh_from:  # a fresh optimizer warms up again: Adam's first updates are ~lr per weight
                group["lr"] *= min(1.0, (step - fresh_from + 1) / args.warmup)
        pred = net.unet(xt, t, net.cond_stage_model(ids))
        per_sample = (pred - noise).square().mean(dim=(1, 2, 3))
        loss = (per_sample * weight[t]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(args.ema, (1 + step) / (10 + step))  # short warm-up so early EMA is not the random init
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.lerp_(p, 1 - decay)
        progress.update(step, mse=per_sample.mean().item(), loss=loss.item())
        step += 1
        if time.time() - last_save > args.save_minutes * 60:
            checkpoint()
            last_save = time.time()
    checkpoint(done=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="training/runs/demo")
    ap.add_argument("--resume", action="store_true", help="continue from the checkpoints in --out")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, a few steps of each stage")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads; 1 on a shared machine: OpenMP spin-waits made 2 threads 7x slower under load")
    ap.add_argument("--vae-steps", type=int, default=1500)
    ap.add_argument("--vae-batch", type=int, default=16)
    ap.add_argument("--vae-lr", type=float, default=1e-3)
    ap.add_argument("--vae-crop", type=int, default=32, help="train the autoencoder on crops this size")
    ap.add_argument("--vae-pool", type=int, default=6000)
    ap.add_argument("--kl-weight", type=float, default=1e-4)
    ap.add_argument("--latent-pool", type=int, default=12000)
    ap.add_argument("--steps", type=int, default=12000, help="UNet + text encoder steps")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--caption-dropout", type=float, default=0.1)
    ap.add_argument("--loss-weight", choices=["min-snr", "x0"], default="x0",
                    help="per-timestep weight of the eps loss (x0: favours high noise, where the caption counts)")
    ap.add_argument("--init-from", metavar="FILE",
                    help="start stage 3 from an exported model (export.py's .safetensors) at the step it records, "
                         "with a fresh optimizer: goes on with a run whose checkpoints are gone")
    ap.add_argument("--save-minutes", type=float, default=3.0)
    ap.add_argument("--log-every", type=int, default=50)
    args = ap.parse_args()
    if args.smoke:
        args.vae_steps, args.vae_batch, args.vae_pool, args.latent_pool = 3, 4, 16, 32
        args.steps, args.batch, args.warmup, args.log_every = 3, 4, 1, 1
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # denormals in tiny activations slow x86 float math by orders of magnitude
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    config = smoke_config() if args.smoke else full_config()
    marker = os.path.join(args.out, "config.json")
    if os.path.exists(marker) and not args.resume:
        sys.exit(f"{args.out} holds a run already: pass --resume to continue it, or another --out")
    with open(marker, "w") as f:
        json.dump({"config": config_to_dict(config), "args": vars(args)}, f, indent=1)
    net = M.StableDiffusion(config)
    print("parameters: text encoder {:,}  UNet {:,}  VAE {:,}".format(
        M.count_parameters(net.cond_stage_model), M.count_parameters(net.model),
        M.count_parameters(net.first_stage_model)), flush=True)
    t0 = time.time()
    vae = train_vae(args, config, args.out)
    print(f"[time] autoencoder {time.time() - t0:.0f} s", flush=True)
    print("[vae] round trip read back: " + " ".join(
        f"{k} {100 * v:.0f}%" for k, v in round_trip_accuracy(vae.eval(), n=8 if args.smoke else 128).items()), flush=True)
    lat = make_latents(args, config, args.out, vae)
    print(f"[time] latents {time.time() - t0:.0f} s", flush=True)
    train_diffusion(args, config, args.out, vae, lat)
    print(f"[time] total {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
