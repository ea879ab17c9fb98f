#!/usr/bin/python3
"""Writes the fuzz targets' seed corpora (fuzz/corpus/<target>/) from the test fixtures and a few
hand-made inputs: small files that reach each parser's main paths, never the multi-MB models.
Needs Debian's python3 with torch and PIL (training/install.sh). Run from the repository root."""
import io, json, os, pickle, shutil, struct, zipfile, zlib
from collections import OrderedDict

import torch
from PIL import Image, PngImagePlugin

F = "tests/fixtures"
OUT = "fuzz/corpus"


def put(target, name, data):
    os.makedirs(f"{OUT}/{target}", exist_ok=True)
    with open(f"{OUT}/{target}/{name}", "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def copy(target, path, name=None, prefix=b""):
    with open(path, "rb") as f:
        put(target, name or os.path.basename(path), prefix + f.read())


def safetensors(tensors, metadata=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def torch_bytes(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


# safetensors: the hostile fixtures, a LoRA, and small files of every dtype and rank.
for name in os.listdir(f"{F}/hostile"):
    if name.endswith(".safetensors") and name != "truncated.safetensors":
        copy("safetensors", f"{F}/hostile/{name}")
copy("safetensors", f"{F}/lora/sd1_diffusers_old.safetensors")
put("safetensors", "dtypes.safetensors", safetensors({
    "f32": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)), "f16": ("F16", [3], b"\0<\0<\0<"),
    "bf16": ("BF16", [1, 1, 2], b"\x80?\x80?"), "i64": ("I64", [1], struct.pack("<q", -1)),
    "u8": ("U8", [0, 5], b""), "bool": ("BOOL", [], b"\1"), "f64": ("F64", [1], struct.pack("<d", 0.5)),
}, {"format": "pt", "diffuse.sampler": "euler"}))
put("safetensors", "empty.safetensors", safetensors({}))

# zip archives and checkpoints: the hostile .ckpt files, torch.save output, zip variants.
ckpt = torch_bytes({"state_dict": OrderedDict(w=torch.arange(6.0).reshape(2, 3), h=torch.ones(2, dtype=torch.float16),
                                              t=torch.arange(6.0).reshape(2, 3).t(), b=torch.zeros(1, dtype=torch.bfloat16),
                                              step=torch.tensor(3))}, )
param = torch_bytes({"p": torch.nn.Parameter(torch.ones(2, 2)), "epoch": 3, "lr": 0.5, "name": "x"})
for target in ("zip_archive", "ckpt"):
    for name in os.listdir(f"{F}/hostile"):
        if name.endswith(".ckpt"):
            copy(target, f"{F}/hostile/{name}")
    put(target, "tensors.ckpt", ckpt)
    put(target, "parameter.ckpt", param)
for name, kwargs in (("deflated.zip", {"compression": zipfile.ZIP_DEFLATED}), ("stored.zip", {})):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", **kwargs) as z:
        z.writestr("archive/data.pkl", pickle.dumps({"a": 1}, protocol=2))
        z.writestr("archive/data/0", b"\0" * 16)
        z.comment = b"a comment"
    put("zip_archive", name, buffer.getvalue())
buffer = io.BytesIO()
with zipfile.ZipFile(buffer, "w") as z:
    with z.open("archive/data.pkl", "w", force_zip64=True) as f:
        f.write(pickle.dumps([1, 2], protocol=2))
put("zip_archive", "zip64.zip", buffer.getvalue())

# pickles: what torch.save writes, and Python's own for every protocol the parser takes.
for name, data in (("tensors.ckpt", ckpt), ("parameter.ckpt", param)):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        put("pickle", name.replace(".ckpt", ".pkl"), z.read([n for n in z.namelist() if n.endswith("data.pkl")][0]))
values = {"ints": [0, 1, -1, 255, 65535, 2**31 - 1, -2**31, 2**63 - 1, -2**63], "floats": [0.5, -1e300],
          "text": ["", "a", "é" * 3, b"bytes"], "nested": ((1,), (1, 2), (1, 2, 3), [], {}, None, True, False),
          "shared": OrderedDict(a=1)}
values["again"] = values["shared"]
for protocol in (2, 3, 4, 5):
    put("pickle", f"values_p{protocol}.pkl", pickle.dumps(values, protocol=protocol))

# diffusers configs: the fixtures' JSON and a sharded checkpoint's index.
for folder in ("unet", "vae", "text_encoder", "scheduler"):
    for name in os.listdir(f"{F}/sd1-tiny/diffusers/{folder}"):
        if name.endswith(".json"):
            copy("diffusers_config", f"{F}/sd1-tiny/diffusers/{folder}/{name}", f"{folder}_{name}")
copy("diffusers_config", f"{F}/sd1-tiny/diffusers/model_index.json")
put("diffusers_config", "index.json", json.dumps({"metadata": {"total_size": 8},
                                                  "weight_map": {"a": "shard.safetensors", "b": "shard.safetensors"}}))
put("diffusers_config", "names.json", json.dumps({"down_blocks.1.resnets.0.conv1.weight": "up_blocks.0.upsamplers.0.conv.weight",
                                                  "encoder.mid_block.attentions.0.to_q.weight": "decoder.up_blocks.1.resnets.2.conv_shortcut.bias"}))

# prompts: the tokenizer's cases, the prompt-weighting fixture, tags.
cases = json.load(open(f"{F}/tokenizer/cases.json"))
for i, case in enumerate(cases[:40]):
    put("clip_tokenizer", f"case{i:02}.txt", case["text"])
weighting = json.load(open(f"{F}/prompt-weighting/cases.json"))
for name, case in weighting.items():
    put("prompt_weights", f"{name}.txt", case["prompt"])
for i, prompt in enumerate(["a (b:1.5) [c] ((d)) \\(e\\) BREAK f", "(unclosed [also", "a (b BREAK c) ]x)", "(a:+1.2e3)"]):
    put("prompt_weights", f"syntax{i}.txt", prompt)
for i, prompt in enumerate(["a <lora:style:0.8> cat", "<lora:a:0.5:1.5> <lora:b:te=0.2:unet=1> <hypernet:x:1>",
                            "<lora:n> <lora:x:1:2:3>", "<lora:bad:nan> <lora:q:dyn=3>"]):
    put("lora_tags", f"tags{i}.txt", prompt)

# LoRA files: the first byte picks the model (0 SD 1.x, 1 SDXL).
for name, model in (("sd1_peft.safetensors", 0), ("sd1_diffusers_old.safetensors", 0), ("sd1_kohya.safetensors", 0),
                    ("sdxl_kohya.safetensors", 1)):
    copy("lora", f"{F}/lora/{name}", prefix=bytes([model]))

# PNGs: every colour type and depth, interlace, transparency, text chunks of each kind.
def png(image, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **kwargs)
    return buffer.getvalue()
info = PngImagePlugin.PngInfo()
info.add_text("parameters", "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 8x8")
info.add_text("Comment", "zipped " * 20, zip=True)
info.add_itxt("Title", "été", lang="fr", tkey="Titre")
rgb = Image.new("RGB", (8, 6), (200, 10, 30))
put("png", "text.png", png(rgb, pnginfo=info))
put("png", "rgba16.png", png(Image.new("I;16", (3, 3), 4000)))
put("png", "gray1.png", png(Image.new("1", (9, 2), 1)))
put("png", "palette_trns.png", png(Image.new("P", (4, 4), 1), transparency=1))
put("png", "rgba_interlaced.png", png(Image.new("RGBA", (5, 7), (1, 2, 3, 0)), optimize=False))
put("png", "la.png", png(Image.new("LA", (2, 2), (9, 128))))

# A1111 infotexts.
for i, text in enumerate([
        "a cat\nNegative prompt: dog\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 42, Size: 512x768, Model: v1-5",
        "p\nSteps: 5, Sampler: Euler a, Schedule type: Karras, CFG scale: 1, Seed: -1, Size: 64x64, Denoising strength: 0.6, "
        "Lora hashes: \"a: 0123456789ab, b: ba9876543210\", Version: diffuse 0.1",
        "only a prompt, with: commas", "x\nSteps: many, Seed: 1, Size: 1x1"]):
    put("generation_parameters", f"infotext{i}.txt", text)

# Server bodies: A1111 and OpenAI requests, an img2img with a base64 PNG and mask.
import base64
tiny = base64.b64encode(png(Image.new("RGBA", (8, 8), (5, 5, 5, 0)))).decode()
for i, body in enumerate([
        {"prompt": "a red circle", "steps": 20, "seed": 1, "width": 64, "height": 64, "sampler_name": "Euler a", "scheduler": "Karras"},
        {"prompt": "x <lora:tiny:0.5>", "negative_prompt": "y", "batch_size": 2, "n_iter": 2, "cfg_scale": 5.5, "seed": -1},
        {"prompt": "a", "init_images": [tiny], "mask": "data:image/png;base64," + tiny, "denoising_strength": 0.5, "mask_blur": 2},
        {"prompt": "a", "size": "256x256", "n": 1, "response_format": "b64_json", "image": tiny},
        {"prompt": "a", "steps": 20.0, "override_settings": {"CLIP_stop_at_last_layers": 2}, "sampler_index": "k_euler"}]):
    put("server_request", f"body{i}.json", json.dumps(body))
