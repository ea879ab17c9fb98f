"""The Python tokenizer gives the ids diffuse's C++ tokenizer gives, for every word and phrase of the captions.

    /usr/bin/python3 training/test_tokenizer.py [path/to/diffuse]
"""
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
from tokenizer import ClipTokenizer  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def diffuse_ids(binary, text):
    out = subprocess.run([binary, "tokenize", text], check=True, capture_output=True, text=True).stdout
    return [int(t) for t in out.replace(",", " ").replace("[", " ").replace("]", " ").split()]


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "build", "diffuse")
    tok = ClipTokenizer()
    rng = random.Random(0)
    texts = set()
    for _ in range(300):
        texts.add(data.caption(data.sample_scene(rng, heldout=rng.random() < 0.2), rng))
    words = {w.strip(",") for t in texts for w in t.split()}
    words |= set(data.COLORS) | set(data.SHAPES) | set(data.PLURAL.values())
    cases = sorted(words) + sorted(texts)[:60] + ["", "Two  BIG   Red circles, on a blue background!"]
    bad = 0
    for text in cases:
        want, got = diffuse_ids(binary, text), tok.encode(text)
        if want != got:
            bad += 1
            print(f"MISMATCH {text!r}: diffuse {want} python {got}")
    print(f"{len(cases) - bad}/{len(cases)} texts tokenised identically ({len(words)} words)")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
