"""Generates scenes from prompts in torch and scores them with a small image analyser.

    /usr/bin/python3 training/evaluate.py -m models/demo.safetensors [--heldout] [--n 24] [--seeds 2]
        [--sampler euler --steps 20 --cfg 5] [--grid /tmp/grid.png]
    /usr/bin/python3 training/evaluate.py --groundtruth training/groundtruth   # the analyser's own accuracy

This analyser is the training side's quick measure (to pick checkpoints and sampler settings); the
project's test of meaning is the C++ analyser in tests/, checked against training/groundtruth.
"""
import argparse
import json
import os
import random
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import sample  # noqa: E402

PALETTE = np.array(list(data.COLORS.values()), dtype=np.float32)
NAMES = list(data.COLORS)
# Fill ratio (object area / bounding-box area) of each shape as rendered, for a nearest-ratio guess.
FILL = {"circle": 0.785, "square": 1.0, "triangle": 0.5, "star": 0.36, "heart": 0.64}


def _components(mask):
    """4-connected components larger than 6 pixels: list of pixel-index arrays."""
    seen = np.zeros_like(mask, dtype=bool)
    comps = []
    h, w = mask.shape
    for y0, x0 in zip(*np.nonzero(mask)):
        if seen[y0, x0]:
            continue
        stack, pix = [(y0, x0)], []
        seen[y0, x0] = True
        while stack:
            y, x = stack.pop()
            pix.append((y, x))
            for yy, xx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and not seen[yy, xx]:
                    seen[yy, xx] = True
                    stack.append((yy, xx))
        if len(pix) > 6:
            comps.append(np.array(pix))
    return comps


def analyse(image):
    """uint8 HxWx3 -> {color, background, shape, position, count} (None where nothing is found)."""
    img = image.astype(np.float32)
    labels = np.argmin(((img[:, :, None, :] - PALETTE[None, None]) ** 2).sum(-1), axis=-1)
    border = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    bg = np.bincount(border, minlength=len(NAMES)).argmax()
    fg_mask = labels != bg
    out = {"background": NAMES[bg], "color": None, "shape": None, "position": None, "count": 0}
    if fg_mask.sum() < 6:
        return out
    fg = np.bincount(labels[fg_mask], minlength=len(NAMES)).argmax()
    mask = labels == fg
    comps = sorted(_components(mask), key=len, reverse=True)
    big = [c for c in comps if len(c) >= 0.3 * len(comps[0])] if comps else []
    out["color"], out["count"] = NAMES[fg], len(big)
    if not big:
        return out
    c = big[0]
    ys, xs = c[:, 0], c[:, 1]
    fill = len(c) / ((ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1))
    out["shape"] = min(FILL, key=lambda s: abs(FILL[s] - fill))
    if len(big) == 1:
        cy, cx = ys.mean() / image.shape[0], xs.mean() / image.shape[1]
        out["position"] = min(data.POSITIONS, key=lambda p: (data.POSITIONS[p][0] - cx) ** 2 + (data.POSITIONS[p][1] - cy) ** 2)
    else:
        out["position"] = "centre"
    return out


def score(found, want, keys=("color", "background", "shape", "position", "count")):
    return {k: float(found[k] == want[k]) for k in keys}


def prompts(n, heldout, seed=7):
    """n prompts with every attribute said: (text, expected labels)."""
    rng = random.Random(seed)
    out = []
    pairs = [tuple(p) for p in data.HELDOUT]
    while len(out) < n:
        s = data.sample_scene(rng, heldout=heldout)
        if heldout:
            s["color"], s["shape"] = pairs[len(out) % len(pairs)]
            if s["background"] == s["color"]:
                continue
        if s["count"] == 2:
            text = f"two {s['size']} {s['color']} {data.PLURAL[s['shape']]} on a {s['background']} background"
        else:
            text = (f"a {s['size']} {s['color']} {s['shape']} {data.POSITION_PHRASES[s['position']][0]} "
                    f"on a {s['background']} background")
        out.append((text, s))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model")
    ap.add_argument("--groundtruth", help="score the analyser on ground-truth renders (labels.json)")
    ap.add_argument("--heldout", action="store_true")
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--sampler", default="euler")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cfg", type=float, default=5.0)
    ap.add_argument("--grid", help="write the images as one PNG")
    args = ap.parse_args()
    torch.set_num_threads(1)  # 1: OpenMP spin-waits crawl on a shared 2-core machine
    totals, count = {}, 0
    if args.groundtruth:
        from PIL import Image
        for e in json.load(open(os.path.join(args.groundtruth, "labels.json"))):
            found = analyse(np.asarray(Image.open(os.path.join(args.groundtruth, e["file"])).convert("RGB")))
            for k, v in score(found, e).items():
                totals[k] = totals.get(k, 0) + v
            count += 1
    else:
        net, _ = sample.load_model(args.model)
        images = []
        for text, want in prompts(args.n, args.heldout):
            for seed in range(args.seeds):
                img = sample.sample(net, [text], seed=seed, steps=args.steps, cfg=args.cfg, sampler=args.sampler)[0]
                images.append(img)
                for k, v in score(analyse(img), want).items():
                    totals[k] = totals.get(k, 0) + v
                count += 1
        if args.grid:
            from PIL import Image
            cols = args.seeds * 4
            rows = [np.concatenate(images[i:i + cols], axis=1) for i in range(0, len(images) - cols + 1, cols)]
            Image.fromarray(np.concatenate(rows, axis=0)).save(args.grid)
    print(" ".join(f"{k} {100 * v / count:.0f}%" for k, v in totals.items()), f"({count} images)")


if __name__ == "__main__":
    main()
