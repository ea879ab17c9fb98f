"""CLIP's BPE tokenizer (OpenAI's simple_tokenizer.py logic), reading the vocabulary that diffuse ships.

The demo model must see exactly the ids diffuse's C++ tokenizer produces, so this follows CLIP:
lower-case, collapse whitespace, split with CLIP's pattern, byte-level BPE with '</w>' word ends.
Captions here are plain ASCII, so ftfy's text fixing is not needed.
"""
import functools
import gzip
import os

import regex

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB_PATH = os.path.join(REPO, "tests", "fixtures", "tokenizer", "bpe_simple_vocab_16e6.txt.gz")
BOS, EOS = 49406, 49407
CONTEXT_LENGTH = 77

_PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE)


def _bytes_to_unicode():
    # GPT-2's reversible map from bytes to printable unicode characters.
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


class ClipTokenizer:
    def __init__(self, vocab_path=VOCAB_PATH):
        merges = gzip.open(vocab_path).read().decode("utf-8").split("\n")
        merges = [tuple(m.split()) for m in merges[1:49152 - 256 - 2 + 1]]
        self.byte_encoder = _bytes_to_unicode()
        vocab = list(self.byte_encoder.values())
        vocab = vocab + [v + "</w>" for v in vocab]
        vocab.extend("".join(m) for m in merges)
        vocab.extend(["<|startoftext|>", "<|endoftext|>"])
        self.encoder = {v: i for i, v in enumerate(vocab)}
        assert len(self.encoder) == 49408
        self.bpe_ranks = {m: i for i, m in enumerate(merges)}

    @functools.lru_cache(maxsize=None)
    def bpe(self, token):
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        while len(word) > 1:
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
            best = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if best not in self.bpe_ranks:
                break
            first, second = best
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
        return word

    def encode(self, text):
        """Token ids without BOS/EOS, as `diffuse tokenize` prints them."""
        text = " ".join(text.split()).strip().lower()
        ids = []
        for token in regex.findall(_PATTERN, text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(token))
        return ids

    def encode_padded(self, text, pad_id=EOS):
        """BOS + ids + EOS, truncated and padded to 77 positions (SD1 pads with EOS)."""
        ids = [BOS] + self.encode(text)[:CONTEXT_LENGTH - 2] + [EOS]
        return ids + [pad_id] * (CONTEXT_LENGTH - len(ids))
