"""A tiny Stable Diffusion 1.x in plain torch, with the original CompVis/ldm parameter names.

state_dict() keys are exactly those of an SD 1.x single-file checkpoint:
    cond_stage_model.transformer.text_model.*   CLIP text encoder (Hugging Face CLIPTextModel names)
    model.diffusion_model.*                     ldm openaimodel UNetModel
    first_stage_model.*                         ldm AutoencoderKL
so diffuse (or any SD1 loader) reads the exported file with no special case. Only widths and depths
differ from SD 1.5; the structure follows tests/fixtures/sd1-tiny (checked by test_model_keys.py).
"""
import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    # CLIP text encoder: heads = hidden / 64 as in CLIP; 77 positions; the real 49,408-token vocabulary.
    text_hidden: int = 64
    text_layers: int = 2
    text_intermediate: int = 256
    vocab_size: int = 49408
    max_positions: int = 77
    # UNet: 4 levels, cross-attention in the first 3 (as SD1); 8 heads per attention (SD1).
    unet_channels: int = 64
    unet_mult: tuple = (1, 2, 2, 2)
    unet_res_blocks: int = 1
    unet_attention_levels: tuple = (0, 1, 2)
    unet_heads: int = 8
    # KL autoencoder: n levels = n - 1 downsamplings (SD: 4 levels, factor 8); 4 latent channels.
    vae_channels: int = 32
    vae_mult: tuple = (1, 1, 2, 2)
    vae_res_blocks: int = 1
    latent_channels: int = 4

    @property
    def latent_factor(self):
        """Image pixels per latent pixel along a side (diffusers' vae_scale_factor)."""
        return 2 ** (len(self.vae_mult) - 1)


def group_norm(ch, eps):
    return nn.GroupNorm(32, ch, eps=eps)  # SD uses 32 groups everywhere: widths must be multiples of 32


# --- CLIP text encoder (HF CLIPTextModel names) -------------------------------------------------

class ClipAttention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.heads = dim // 64
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x, mask):
        b, n, d = x.shape
        q, k, v = (p(x).view(b, n, self.heads, d // self.heads).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        w = (q @ k.transpose(-1, -2)) * (d // self.heads) ** -0.5 + mask
        return self.out_proj((w.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d))


class ClipMlp(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, inner), nn.Linear(inner, dim)

    def forward(self, x):
        x = self.fc1(x)
        return self.fc2(x * torch.sigmoid(1.702 * x))  # quick_gelu, as OpenAI CLIP


class ClipLayer(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.self_attn = ClipAttention(dim)
        self.layer_norm1 = nn.LayerNorm(dim)
        self.mlp = ClipMlp(dim, inner)
        self.layer_norm2 = nn.LayerNorm(dim)

    def forward(self, x, mask):
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.mlp(self.layer_norm2(x))


class ClipEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.token_embedding = nn.Embedding(c.vocab_size, c.text_hidden)
        self.position_embedding = nn.Embedding(c.max_positions, c.text_hidden)
        # Real checkpoints carry this buffer; keeping it makes the key set identical.
        self.register_buffer("position_ids", torch.arange(c.max_positions).unsqueeze(0))


class ClipEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.ModuleList(ClipLayer(c.text_hidden, c.text_intermediate) for _ in range(c.text_layers))


class ClipTextModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = ClipEmbeddings(c)
        self.encoder = ClipEncoder(c)
        self.final_layer_norm = nn.LayerNorm(c.text_hidden)

    def forward(self, ids):
        """ids: B x 77 -> last_hidden_state after final_layer_norm (SD1's UNet context)."""
        n = ids.shape[1]
        x = self.embeddings.token_embedding(ids) + self.embeddings.position_embedding(self.embeddings.position_ids[:, :n])
        mask = torch.full((n, n), float("-inf"), device=ids.device).triu(1)  # causal, as CLIP
        for layer in self.encoder.layers:
            x = layer(x, mask)
        return self.final_layer_norm(x)


class _Transformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.text_model = ClipTextModel(c)


class FrozenClipEmbedder(nn.Module):
    """Holds the text model under `transformer.text_model`, the key path of ldm's FrozenCLIPEmbedder."""

    def __init__(self, c):
        super().__init__()
        self.transformer = _Transformer(c)

    def forward(self, ids):
        return self.transformer.text_model(ids)


# --- UNet (ldm openaimodel names) ---------------------------------------------------------------

def timestep_embedding(t, dim, max_period=10000):
    # ldm: [cos, sin] of t * exp(-ln(max_period) * i / half) (diffusers flip_sin_to_cos=True, shift 0).
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ResBlock(nn.Module):
    def __init__(self, ch, emb_ch, out_ch):
        super().__init__()
        self.in_layers = nn.Sequential(group_norm(ch, 1e-5), nn.SiLU(), nn.Conv2d(ch, out_ch, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_ch, out_ch))
        self.out_layers = nn.Sequential(group_norm(out_ch, 1e-5), nn.SiLU(), nn.Dropout(0.0),
                                        nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.skip_connection = nn.Conv2d(ch, out_ch, 1) if ch != out_ch else nn.Identity()

    def forward(self, x, emb):
        h = self.in_layers(x) + self.emb_layers(emb)[:, :, None, None]
        return self.skip_connection(x) + self.out_layers(h)


class CrossAttention(nn.Module):
    def __init__(self, dim, context_dim, heads):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(context_dim, dim, bias=False)
        self.to_v = nn.Linear(context_dim, dim, bias=False)
        self.to_out = nn.Sequential(nn.Linear(dim, dim), nn.Dropout(0.0))

    def forward(self, x, context=None):
        context = x if context is None else context
        b, n, d = x.shape
        h = self.heads
        q = self.to_q(x).view(b, n, h, d // h).transpose(1, 2)
        k = self.to_k(context).view(b, -1, h, d // h).transpose(1, 2)
        v = self.to_v(context).view(b, -1, h, d // h).transpose(1, 2)
        w = (q @ k.transpose(-1, -2)) * (d // h) ** -0.5
        return self.to_out((w.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d))


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x):
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, dim * 4), nn.Dropout(0.0), nn.Linear(dim * 4, dim))

    def forward(self, x):
        return self.net(x)


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, context_dim, heads):
        super().__init__()
        self.attn1 = CrossAttention(dim, dim, heads)
        self.ff = FeedForward(dim)
        self.attn2 = CrossAttention(dim, context_dim, heads)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x, context):
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), context)
        return x + self.ff(self.norm3(x))


class SpatialTransformer(nn.Module):
    """SD1 form: 1x1 conv proj_in/proj_out around one transformer block."""

    def __init__(self, ch, context_dim, heads):
        super().__init__()
        self.norm = group_norm(ch, 1e-6)
        self.proj_in = nn.Conv2d(ch, ch, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(ch, context_dim, heads)])
        self.proj_out = nn.Conv2d(ch, ch, 1)

    def forward(self, x, context):
        b, c, hh, ww = x.shape
        h = self.proj_in(self.norm(x)).flatten(2).transpose(1, 2)
        for block in self.transformer_blocks:
            h = block(h, context)
        return x + self.proj_out(h.transpose(1, 2).reshape(b, c, hh, ww))


class Downsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.op = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x):
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class TimestepSequential(nn.ModuleList):
    """ldm's TimestepEmbedSequential: children indexed 0, 1, 2 as in the checkpoint."""

    def forward(self, x, emb, context):
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, SpatialTransformer):
                x = layer(x, context)
            else:
                x = layer(x)
        return x


class UNetModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        mc, emb_ch, ctx, heads = c.unet_channels, c.unet_channels * 4, c.text_hidden, c.unet_heads
        self.model_channels = mc
        self.time_embed = nn.Sequential(nn.Linear(mc, emb_ch), nn.SiLU(), nn.Linear(emb_ch, emb_ch))
        self.input_blocks = nn.ModuleList([TimestepSequential([nn.Conv2d(c.latent_channels, mc, 3, padding=1)])])
        skip_chs, ch = [mc], mc
        for level, mult in enumerate(c.unet_mult):
            for _ in range(c.unet_res_blocks):
                layers = [ResBlock(ch, emb_ch, mc * mult)]
                ch = mc * mult
                if level in c.unet_attention_levels:
                    layers.append(SpatialTransformer(ch, ctx, heads))
                self.input_blocks.append(TimestepSequential(layers))
                skip_chs.append(ch)
            if level != len(c.unet_mult) - 1:
                self.input_blocks.append(TimestepSequential([Downsample(ch)]))
                skip_chs.append(ch)
        self.middle_block = TimestepSequential([ResBlock(ch, emb_ch, ch), SpatialTransformer(ch, ctx, heads),
                                                ResBlock(ch, emb_ch, ch)])
        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(c.unet_mult))):
            for i in range(c.unet_res_blocks + 1):
                layers = [ResBlock(ch + skip_chs.pop(), emb_ch, mc * mult)]
                ch = mc * mult
                if level in c.unet_attention_levels:
                    layers.append(SpatialTransformer(ch, ctx, heads))
                if level and i == c.unet_res_blocks:
                    layers.append(Upsample(ch))
                self.output_blocks.append(TimestepSequential(layers))
        self.out = nn.Sequential(group_norm(ch, 1e-5), nn.SiLU(), nn.Conv2d(mc, c.latent_channels, 3, padding=1))

    def forward(self, x, t, context):
        emb = self.time_embed(timestep_embedding(t, self.model_channels))
        skips = []
        for block in self.input_blocks:
            x = block(x, emb, context)
            skips.append(x)
        x = self.middle_block(x, emb, context)
        for block in self.output_blocks:
            x = block(torch.cat([x, skips.pop()], dim=1), emb, context)
        return self.out(x)


class DiffusionWrapper(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.diffusion_model = UNetModel(c)


# --- KL autoencoder (ldm names) -----------------------------------------------------------------

class VaeResnetBlock(nn.Module):
    def __init__(self, ch, out_ch):
        super().__init__()
        self.norm1 = group_norm(ch, 1e-6)
        self.conv1 = nn.Conv2d(ch, out_ch, 3, padding=1)
        self.norm2 = group_norm(out_ch, 1e-6)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        if ch != out_ch:
            self.nin_shortcut = nn.Conv2d(ch, out_ch, 1)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x) + h


class VaeAttention(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.norm = group_norm(ch, 1e-6)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(ch, ch, 1) for _ in range(4))

    def forward(self, x):
        b, c, hh, ww = x.shape
        h = self.norm(x)
        q, k, v = (p(h).flatten(2) for p in (self.q, self.k, self.v))  # B x C x N
        w = (q.transpose(1, 2) @ k * c ** -0.5).softmax(-1)         # B x N x N
        out = (v @ w.transpose(1, 2)).reshape(b, c, hh, ww)
        return x + self.proj_out(out)


class VaeDownsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # ldm pads right/bottom only, then a stride-2 conv


class VaeMid(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.block_1, self.attn_1, self.block_2 = VaeResnetBlock(ch, ch), VaeAttention(ch), VaeResnetBlock(ch, ch)

    def forward(self, x):
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        chs = [c.vae_channels * m for m in c.vae_mult]
        self.conv_in = nn.Conv2d(3, chs[0], 3, padding=1)
        self.down = nn.ModuleList()
        ch = chs[0]
        for level, out_ch in enumerate(chs):
            stage = nn.Module()
            stage.block = nn.ModuleList()
            for _ in range(c.vae_res_blocks):
                stage.block.append(VaeResnetBlock(ch, out_ch))
                ch = out_ch
            if level != len(chs) - 1:
                stage.downsample = VaeDownsample(ch)
            self.down.append(stage)
        self.mid = VaeMid(ch)
        self.norm_out = group_norm(ch, 1e-6)
        self.conv_out = nn.Conv2d(ch, 2 * c.latent_channels, 3, padding=1)

    def forward(self, x):
        x = self.conv_in(x)
        for stage in self.down:
            for block in stage.block:
                x = block(x)
            if hasattr(stage, "downsample"):
                x = stage.downsample(x)
        x = self.mid(x)
        return self.conv_out(F.silu(self.norm_out(x)))


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        chs = [c.vae_channels * m for m in c.vae_mult]
        ch = chs[-1]
        self.conv_in = nn.Conv2d(c.latent_channels, ch, 3, padding=1)
        self.mid = VaeMid(ch)
        stages = []
        for level in reversed(range(len(chs))):
            stage = nn.Module()
            stage.block = nn.ModuleList()
            for _ in range(c.vae_res_blocks + 1):
                stage.block.append(VaeResnetBlock(ch, chs[level]))
                ch = chs[level]
            if level != 0:
                stage.upsample = Upsample(ch)
            stages.insert(0, stage)  # up[i] is level i, as ldm stores it
        self.up = nn.ModuleList(stages)
        self.norm_out = group_norm(ch, 1e-6)
        self.conv_out = nn.Conv2d(ch, 3, 3, padding=1)

    def forward(self, z):
        x = self.mid(self.conv_in(z))
        for stage in reversed(self.up):
            for block in stage.block:
                x = block(x)
            if hasattr(stage, "upsample"):
                x = stage.upsample(x)
        return self.conv_out(F.silu(self.norm_out(x)))


class AutoencoderKL(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.encoder = Encoder(c)
        self.decoder = Decoder(c)
        self.quant_conv = nn.Conv2d(2 * c.latent_channels, 2 * c.latent_channels, 1)
        self.post_quant_conv = nn.Conv2d(c.latent_channels, c.latent_channels, 1)

    def encode(self, x):
        """x in [-1, 1] -> (mean, logvar) of the latent distribution."""
        mean, logvar = self.quant_conv(self.encoder(x)).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))


# --- the whole model ----------------------------------------------------------------------------

class StableDiffusion(nn.Module):
    def __init__(self, c=None):
        super().__init__()
        self.config = c or Config()
        self.cond_stage_model = FrozenClipEmbedder(self.config)
        self.model = DiffusionWrapper(self.config)
        self.first_stage_model = AutoencoderKL(self.config)

    @property
    def unet(self):
        return self.model.diffusion_model

    @property
    def vae(self):
        return self.first_stage_model


def sd1_tiny_config():
    """The hyper-parameters of tests/fixtures/sd1-tiny, to check names and shapes against it."""
    return Config(text_hidden=64, text_layers=3, text_intermediate=256, unet_channels=32, unet_mult=(1, 2, 2, 2),
                  unet_res_blocks=2, vae_channels=32, vae_mult=(1, 2, 2, 2), vae_res_blocks=2)


def ddpm_schedule(steps=1000, beta_start=0.00085, beta_end=0.012):
    """SD1's scaled_linear betas and alphas_cumprod (float32, as diffusers builds them)."""
    betas = torch.linspace(beta_start ** 0.5, beta_end ** 0.5, steps, dtype=torch.float32) ** 2
    return betas, torch.cumprod(1.0 - betas, dim=0)


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())
