"""Procedural training data: 64x64 scenes of one or two simple shapes, with English captions.

Every scene is drawn from a small set of attributes (object colour, background colour, shape, size,
position, count) so that a generated picture can be checked against its prompt. A fixed set of
colour x shape pairs never appears in training (HELDOUT), to measure generalisation.

    python3 training/data.py --write-spec training/heldout.json
    python3 training/data.py --write-groundtruth training/groundtruth   # 64 PNGs + labels.json
"""
import argparse
import json
import math
import os
import random

import numpy as np

IMAGE_SIZE = 64
SUPERSAMPLE = 4  # draw at 256x256, average 4x4 blocks: anti-aliased edges

COLORS = {
    "red": (220, 30, 30), "green": (30, 160, 50), "blue": (30, 60, 220), "yellow": (245, 220, 30),
    "orange": (245, 135, 20), "purple": (135, 40, 180), "white": (245, 245, 245), "black": (15, 15, 15),
}
SHAPES = ["circle", "square", "triangle", "star", "heart"]
PLURAL = {s: s + "s" for s in SHAPES}
# Object centre as a fraction of the image side, (x, y), y downwards.
POSITIONS = {
    "centre": (0.5, 0.5), "left": (0.27, 0.5), "right": (0.73, 0.5), "top": (0.5, 0.27), "bottom": (0.5, 0.73),
    "top left": (0.27, 0.27), "top right": (0.73, 0.27), "bottom left": (0.27, 0.73), "bottom right": (0.73, 0.73),
}
# Half-extent of a shape in pixels of the 64x64 image.
SIZES = {"small": 9.0, "big": 14.0}
JITTER = 2.0           # pixels of random offset around the nominal position
SIZE_JITTER = 0.08     # relative
P_TWO = 0.25           # probability of a two-object scene
# Never in training: the test builds prompts from these to measure generalisation.
HELDOUT = [("orange", "star"), ("purple", "triangle"), ("white", "circle"),
           ("green", "heart"), ("yellow", "square"), ("blue", "star")]
# Two-object layouts: centres of the pair, and the position label the pair has as a whole.
PAIR_LAYOUTS = {"side by side": [(0.27, 0.5), (0.73, 0.5)], "one above the other": [(0.5, 0.27), (0.5, 0.73)]}

# Phrasing (the caption vocabulary). Each attribute has a few ways to be said.
SIZE_WORDS = {"small": ["small", "small", "little", "tiny"], "big": ["big", "big", "large", "huge"]}
POSITION_PHRASES = {
    "centre": ["in the centre", "in the center", "in the middle", "at the center"],
    "left": ["on the left", "on the left side", "at the left"],
    "right": ["on the right", "on the right side", "at the right"],
    "top": ["at the top", "at the top of the image", "near the top"],
    "bottom": ["at the bottom", "at the bottom of the image", "near the bottom"],
}
for _v in ("top", "bottom"):
    for _h in ("left", "right"):
        _p = f"{_v} {_h}"
        _u = ("upper" if _v == "top" else "lower") + " " + _h
        POSITION_PHRASES[_p] = [f"in the {_p} corner", f"at the {_p}", f"in the {_u} corner", f"{_p}"]
BACKGROUND_PHRASES = ["on a {c} background", "on {c}", "against a {c} background", "with a {c} background",
                      "on a {c} backdrop", "over {c}"]


def spec():
    """Everything a test needs to rebuild prompts and judge pictures (written to heldout.json)."""
    return {
        "image_size": IMAGE_SIZE, "colors": COLORS, "shapes": SHAPES, "positions": POSITIONS, "sizes": SIZES,
        "jitter_px": JITTER, "p_two_objects": P_TWO, "pair_layouts": PAIR_LAYOUTS,
        "heldout": [list(p) for p in HELDOUT],
        "size_words": SIZE_WORDS, "position_phrases": POSITION_PHRASES, "background_phrases": BACKGROUND_PHRASES,
        "prompt_template": "a {size} {color} {shape} {position} on a {background} background",
        "notes": "object colour != background colour; two-object scenes are two of the same shape, colour "
                 "and size, side by side or one above the other (position label 'centre'); held-out "
                 "colour x shape pairs never appear in training, in either count",
    }


# --- scenes -------------------------------------------------------------------------------------

def sample_scene(rng, heldout=False):
    """Attributes of one scene. heldout=True draws only held-out colour x shape pairs."""
    while True:
        color = rng.choice(list(COLORS))
        shape = rng.choice(SHAPES)
        if ((color, shape) in HELDOUT) == heldout:
            break
    background = rng.choice([c for c in COLORS if c != color])
    size = rng.choice(list(SIZES))
    if rng.random() < P_TWO:
        layout = rng.choice(list(PAIR_LAYOUTS))
        centres = PAIR_LAYOUTS[layout]
        count, position = 2, "centre"
    else:
        layout = None
        position = rng.choice(list(POSITIONS))
        centres = [POSITIONS[position]]
        count = 1
    objects = []
    for cx, cy in centres:
        objects.append({
            "x": cx * IMAGE_SIZE + rng.uniform(-JITTER, JITTER),
            "y": cy * IMAGE_SIZE + rng.uniform(-JITTER, JITTER),
            "r": SIZES[size] * (1 + rng.uniform(-SIZE_JITTER, SIZE_JITTER)),
            "angle": rng.uniform(-0.15, 0.15),  # a slight rotation, so shapes are not pixel-identical
        })
    return {"color": color, "background": background, "shape": shape, "size": size, "position": position,
            "count": count, "layout": layout, "objects": objects}


def caption(scene, rng):
    """One natural phrasing of the scene; attributes are sometimes left out (the model then picks)."""
    color, shape = scene["color"], scene["shape"]
    size_word = rng.choice(SIZE_WORDS[scene["size"]]) if rng.random() < 0.7 else None
    bg = rng.choice(BACKGROUND_PHRASES).format(c=scene["background"]) if rng.random() < 0.85 else None
    if scene["count"] == 2:
        noun = " ".join(w for w in ["two", size_word, color, PLURAL[shape]] if w)
        pos = None
        if rng.random() < 0.3:
            pos = scene["layout"]
    else:
        article = "a"
        first = size_word or color
        if first[0] in "aeiou":
            article = "an"
        noun = " ".join(w for w in [article, size_word, color, shape] if w)
        if rng.random() < 0.15:
            noun = noun.split(" ", 1)[1]  # "red circle on a blue background"
        pos = rng.choice(POSITION_PHRASES[scene["position"]]) if rng.random() < 0.8 else None
    order = rng.random()
    if bg and order < 0.12:
        # "a blue background with a red circle in the middle"
        bgc = scene["background"]
        lead = f"{'an' if bgc[0] in 'aeiou' else 'a'} {bgc} background with {noun}"
        return " ".join(w for w in [lead, pos] if w)
    if bg and order < 0.2:
        return ", ".join(w for w in [" ".join(w for w in [noun, pos] if w), f"{scene['background']} background"])
    return " ".join(w for w in [noun, pos, bg] if w)


# --- rendering ----------------------------------------------------------------------------------

def _star_polygon(points=5, inner=0.45):
    pts = []
    for i in range(points * 2):
        a = -math.pi / 2 + i * math.pi / points
        rad = 1.0 if i % 2 == 0 else inner
        pts.append((rad * math.cos(a), rad * math.sin(a)))
    return pts


_TRIANGLE = [(0.0, -1.0), (0.94, 0.72), (-0.94, 0.72)]
_STAR = _star_polygon()


def _inside_polygon(u, v, poly):
    """Even-odd point-in-polygon test, vectorised over the sample grid."""
    inside = np.zeros(u.shape, dtype=bool)
    n = len(poly)
    for i in range(n):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % n]
        crosses = (y1 > v) != (y2 > v)
        with np.errstate(divide="ignore", invalid="ignore"):
            xi = x1 + (v - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (u < xi)
    return inside


def _shape_mask(shape, u, v):
    """u, v: coordinates in the shape's own frame, the shape spanning about [-1, 1]."""
    if shape == "circle":
        return u * u + v * v <= 1.0
    if shape == "square":
        return (np.abs(u) <= 0.85) & (np.abs(v) <= 0.85)  # same area feel as the circle
    if shape == "triangle":
        return _inside_polygon(u, v, _TRIANGLE)
    if shape == "star":
        return _inside_polygon(u, v, _STAR)
    if shape == "heart":
        # The classic implicit heart (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, y up, scaled to fit [-1, 1].
        x, y = u * 1.2, -v * 1.2 + 0.15
        return (x * x + y * y - 1) ** 3 - x * x * y ** 3 <= 0
    raise ValueError(shape)


_GRID = None


def render(scene):
    """The scene as a uint8 HxWx3 array, anti-aliased by 4x4 supersampling."""
    global _GRID
    n = IMAGE_SIZE * SUPERSAMPLE
    if _GRID is None:
        c = (np.arange(n, dtype=np.float32) + 0.5) / SUPERSAMPLE
        _GRID = np.meshgrid(c, c)  # x, y in image pixels
    gx, gy = _GRID
    cover = np.zeros((n, n), dtype=bool)
    for o in scene["objects"]:
        dx, dy = (gx - o["x"]) / o["r"], (gy - o["y"]) / o["r"]
        ca, sa = math.cos(o["angle"]), math.sin(o["angle"])
        u, v = ca * dx + sa * dy, -sa * dx + ca * dy
        box = (np.abs(dx) < 1.5) & (np.abs(dy) < 1.5)
        cover[box] |= _shape_mask(scene["shape"], u[box], v[box])
    alpha = cover.reshape(IMAGE_SIZE, SUPERSAMPLE, IMAGE_SIZE, SUPERSAMPLE).mean(axis=(1, 3))[..., None]
    fg = np.array(COLORS[scene["color"]], dtype=np.float32)
    bg = np.array(COLORS[scene["background"]], dtype=np.float32)
    return np.round(alpha * fg + (1 - alpha) * bg).astype(np.uint8)


def make_dataset(n, seed, heldout=False):
    """n scenes and their renders, deterministic for the seed: (list of scenes, uint8 N x 64 x 64 x 3)."""
    rng = random.Random(seed)
    scenes = [sample_scene(rng, heldout) for _ in range(n)]
    images = np.stack([render(s) for s in scenes])
    return scenes, images


def labels(scene):
    """The ground truth an image analyser should report for this scene."""
    centres = [[round(o["x"], 2), round(o["y"], 2)] for o in scene["objects"]]
    return {k: scene[k] for k in ("color", "background", "shape", "size", "position", "count")} | {
        "centres": centres, "half_extent_px": round(scene["objects"][0]["r"], 2)}


def write_png(path, image):
    from PIL import Image
    Image.fromarray(image).save(path, optimize=True)


def write_groundtruth(directory, n=64, seed=1234):
    """n renders (PNG) and labels.json, covering every shape, colour and position."""
    os.makedirs(directory, exist_ok=True)
    rng = random.Random(seed)
    entries = []
    for i in range(n):
        # Cycle shapes and positions so that each appears; colours drawn from all 8 (held-out pairs included).
        while True:
            s = sample_scene(rng, heldout=rng.random() < 0.15)
            if s["shape"] == SHAPES[i % len(SHAPES)]:
                break
        name = f"gt_{i:02d}.png"
        write_png(os.path.join(directory, name), render(s))
        entries.append({"file": name, "caption": caption(s, rng)} | labels(s))
    with open(os.path.join(directory, "labels.json"), "w") as f:
        json.dump(entries, f, indent=1)
    return entries


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write-spec", metavar="JSON")
    ap.add_argument("--write-groundtruth", metavar="DIR")
    ap.add_argument("--captions", type=int, default=0, help="print N sample captions")
    args = ap.parse_args()
    if args.write_spec:
        with open(args.write_spec, "w") as f:
            json.dump(spec(), f, indent=1)
    if args.write_groundtruth:
        write_groundtruth(args.write_groundtruth)
    rng = random.Random(0)
    for _ in range(args.captions):
        s = sample_scene(rng)
        print(caption(s, rng))


if __name__ == "__main__":
    main()
