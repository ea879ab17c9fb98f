"""Optional stage, run beside stage 3: trains the autoencoder's decoder further with the encoder frozen.

    nohup nice -n 10 /usr/bin/python3 training/finetune_decoder.py --out training/runs/demo --minutes 40 &

The latent space is fixed once latents.pt exists (the UNet learns it), but the decoder can keep
improving: it learns to decode the same frozen, folded latents. Checkpoints go to decoder.pt, which
export.py prefers over the decoder in latents.pt. Resumes from decoder.pt when it exists.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import model as M  # noqa: E402
import train  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="training/runs/demo")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mse-weight", type=float, default=4.0,
                    help="weight of the squared error beside L1: it is what makes small objects keep their colour")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    lat = torch.load(os.path.join(args.out, "latents.pt"))
    config = train.config_from_dict(torch.load(os.path.join(args.out, "vae.pt"))["config"])
    vae = M.AutoencoderKL(config)
    vae.load_state_dict(lat["vae"])
    path = os.path.join(args.out, "decoder.pt")
    step = 0
    opt = torch.optim.AdamW(list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters()), lr=args.lr,
                            weight_decay=0.0)
    if os.path.exists(path):
        ck = torch.load(path)
        vae.load_state_dict(ck["vae"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
    vae.encoder.requires_grad_(False)
    vae.quant_conv.requires_grad_(False)
    _, pool = data.make_dataset(6000, seed=args.seed * 7 + 1)  # the stage-1 pool: training combinations only
    pool = train.to_tensor(pool)
    end = time.time() + args.minutes * 60
    last_save, t0, sums, n = time.time(), time.time(), 0.0, 0
    while time.time() < end:
        g = torch.Generator().manual_seed(args.seed * 1_000_003 + 900_000 + step)
        x = pool[torch.randint(0, len(pool), (args.batch,), generator=g)]
        if args.crop < data.IMAGE_SIZE:
            x = train.random_crop(x, args.crop, config.latent_factor, g)
        with torch.no_grad():
            mean, logvar = vae.encode(x)
            z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=g)
        y = vae.decode(z)
        rec, edge, mse = train.reconstruction_losses(y, x)
        loss = rec + 0.5 * edge + args.mse_weight * mse
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sums, n, step = sums + rec.item(), n + 1, step + 1
        if step % 50 == 0:
            print(f"[decoder] step {step} rec {sums / n:.4f} {(time.time() - t0) / n:.2f} s/it", flush=True)
            sums, n, t0 = 0.0, 0, time.time()
        if time.time() - last_save > 120 or time.time() >= end:
            train.save(path, {"vae": vae.state_dict(), "opt": opt.state_dict(), "step": step})
            last_save = time.time()
            print("[decoder] round trip read back: " + " ".join(
                f"{k} {100 * v:.0f}%" for k, v in train.round_trip_accuracy(vae.eval()).items()), flush=True)
            vae.train()


if __name__ == "__main__":
    main()
