#pragma once
// The VAE's decode and encode in overlapping tiles, as diffusers 0.27.2's AutoencoderKL.enable_tiling
// (models/autoencoders/autoencoder_kl.py: _decode/encode choose, tiled_decode/tiled_encode split, blend_v
// and blend_h join): the memory of one tile's activations whatever the image's size, at the price of
// pixels that differ from one whole decode near the seams, and of the overlap decoded twice.
#include "models/vae.h"

namespace diffuse {

// diffusers' tile_overlap_factor: tiles start every 3/4 of a tile, and a quarter of a tile's output is
// blended into its neighbour's.
inline constexpr double kTileOverlap = 0.25;

// A tile's side in latent pixels (diffusers' tile_latent_min_size; the image tile, tile_sample_min_size,
// is `latent_factor` times it) must be a positive multiple of 4: then a tile's start, its kept part and
// its blend fall on whole latent pixels and the kept parts add up to the image. Throws Error otherwise.
void check_tile_size(int latent_tile);

// Vae::decode of [B, latent, h, w] latents (already divided by the scaling factor), in tiles of
// `latent_tile` latent pixels when h or w is larger than one, else in one piece (as _decode).
Tensor tiled_decode(const Vae& vae, const Tensor& z_nchw, int latent_tile);

// Vae::encode of a [B, 3, H, W] image, in tiles of `latent_tile` x latent factor pixels when H or W is
// larger than one, else in one piece (as encode). diffusers blends the moments before it clamps logvar
// and Vae::encode clamps each tile's: the same unless a logvar leaves [-30, 20].
Vae::Moments tiled_encode(const Vae& vae, const Tensor& image_nchw, int latent_tile);

}  // namespace diffuse
