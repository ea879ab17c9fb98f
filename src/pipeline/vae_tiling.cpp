#include "pipeline/vae_tiling.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"

namespace diffuse {
namespace {

// How tiled_decode / tiled_encode cut their input and join the outputs, in their names.
struct TileGrid {
  int64_t tile;        // tile side in input pixels (tile_latent_min_size / tile_sample_min_size)
  int64_t stride;      // between tile starts, input pixels: overlap_size
  int64_t blend;       // output pixels blended with the tile above or to the left: blend_extent
  int64_t keep;        // output pixels kept of each tile, from its top left: row_limit
  int64_t out_height, out_width;
};

// x[:, :, r0:r0+rows, c0:c0+cols] clipped to x's size, as a torch slice is: tiles at the right and
// bottom edges are smaller.
Tensor crop(const Tensor& x, int64_t r0, int64_t rows, int64_t c0, int64_t cols) {
  const int64_t planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3);
  rows = std::min(rows, h - r0), cols = std::min(cols, w - c0);
  Tensor out({x.dim(0), x.dim(1), rows, cols});
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(out.data() + (p * rows + r) * cols, x.data() + (p * h + r0 + r) * w + c0, size_t(cols) * 4);
  return out;
}

// The top-left rows x cols of `tile` written into `out` at (r0, c0).
void paste(Tensor& out, const Tensor& tile, int64_t r0, int64_t c0, int64_t rows, int64_t cols) {
  const int64_t planes = out.dim(0) * out.dim(1), h = out.dim(2), w = out.dim(3), tw = tile.dim(3);
  if (r0 + rows > h || c0 + cols > w) throw Error("VAE tiling: a tile's kept part falls outside the image");
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(out.data() + (p * h + r0 + r) * w + c0, tile.data() + (p * tile.dim(2) + r) * tw, size_t(cols) * 4);
}

// blend_v / blend_h: the first `extent` rows (columns) of b fade in from a's last ones, linearly,
// b[y] = a[-extent + y] * (1 - y / extent) + b[y] * (y / extent), in place. The weights are worked out in
// double and used as float, as torch multiplies a float tensor by a Python number.
void blend_v(const Tensor& a, Tensor& b, int64_t extent) {
  const int64_t planes = b.dim(0) * b.dim(1), ah = a.dim(2), bh = b.dim(2), w = b.dim(3);
  extent = std::min({ah, bh, extent});
  for (int64_t y = 0; y < extent; ++y) {
    const float wa = float(1.0 - double(y) / double(extent)), wb = float(double(y) / double(extent));
    for (int64_t p = 0; p < planes; ++p) {
      const float* src = a.data() + (p * ah + ah - extent + y) * w;
      float* dst = b.data() + (p * bh + y) * w;
      for (int64_t x = 0; x < w; ++x) dst[x] = src[x] * wa + dst[x] * wb;
    }
  }
}

void blend_h(const Tensor& a, Tensor& b, int64_t extent) {
  const int64_t planes = b.dim(0) * b.dim(1), h = b.dim(2), aw = a.dim(3), bw = b.dim(3);
  extent = std::min({aw, bw, extent});
  for (int64_t x = 0; x < extent; ++x) {
    const float wa = float(1.0 - double(x) / double(extent)), wb = float(double(x) / double(extent));
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t y = 0; y < h; ++y) {
        float& dst = b.data()[(p * h + y) * bw + x];
        dst = a.data()[(p * h + y) * aw + aw - extent + x] * wa + dst * wb;
      }
  }
}

// The loop tiled_decode and tiled_encode share: tiles start every `stride` pixels along each side; each
// tile's output, blended in place with the already-blended tile above and then the one to the left (so a
// blend carries into the next), gives its top-left keep x keep to the result. Only the row of tiles above
// is kept, not all of them as diffusers does: the blends read nothing older.
Tensor run_tiles(const Tensor& input, const TileGrid& g, const std::function<Tensor(const Tensor&)>& run) {
  const int64_t height = input.dim(2), width = input.dim(3);
  Tensor out;
  std::vector<Tensor> above;
  int64_t out_row = 0;
  for (int64_t i = 0; i < height; i += g.stride) {
    std::vector<Tensor> row;
    int64_t out_col = 0, kept_rows = 0;
    for (int64_t j = 0; j < width; j += g.stride) {
      Tensor tile = run(crop(input, i, g.tile, j, g.tile));
      if (!above.empty()) blend_v(above[row.size()], tile, g.blend);
      if (!row.empty()) blend_h(row.back(), tile, g.blend);
      if (out.empty()) out = Tensor({tile.dim(0), tile.dim(1), g.out_height, g.out_width});
      kept_rows = std::min(g.keep, tile.dim(2));
      const int64_t kept_cols = std::min(g.keep, tile.dim(3));
      paste(out, tile, out_row, out_col, kept_rows, kept_cols);
      out_col += kept_cols;
      row.push_back(std::move(tile));
    }
    if (out_col != g.out_width) throw Error("VAE tiling: the tiles' kept parts do not cover the image's width");
    out_row += kept_rows;
    above = std::move(row);
  }
  if (out_row != g.out_height) throw Error("VAE tiling: the tiles' kept parts do not cover the image's height");
  return out;
}

// torch.cat(moments, dim=1) and its torch.chunk(2, dim=1): the encoder's output is blended as one tensor.
Tensor join_channels(const Tensor& a, const Tensor& b) {
  const int64_t n = a.dim(0), plane = a.numel() / n;
  Tensor out({n, a.dim(1) + b.dim(1), a.dim(2), a.dim(3)});
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(out.data() + 2 * i * plane, a.data() + i * plane, size_t(plane) * 4);
    std::memcpy(out.data() + (2 * i + 1) * plane, b.data() + i * plane, size_t(plane) * 4);
  }
  return out;
}

Vae::Moments split_channels(const Tensor& x) {
  const int64_t n = x.dim(0), plane = x.numel() / n / 2;
  Vae::Moments m{Tensor({n, x.dim(1) / 2, x.dim(2), x.dim(3)}), Tensor({n, x.dim(1) / 2, x.dim(2), x.dim(3)})};
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(m.mean.data() + i * plane, x.data() + 2 * i * plane, size_t(plane) * 4);
    std::memcpy(m.logvar.data() + i * plane, x.data() + (2 * i + 1) * plane, size_t(plane) * 4);
  }
  return m;
}

}  // namespace

void check_tile_size(int latent_tile) {
  if (latent_tile < 4 || latent_tile % 4)
    throw Error("--vae-tile-size must be a positive multiple of 4 (latent pixels), got " + std::to_string(latent_tile));
}

// tiled_decode: tiles of tile_latent_min_size latents, overlap_size = int(tile_latent_min_size * 0.75),
// blend_extent = int(tile_sample_min_size * 0.25), row_limit = tile_sample_min_size - blend_extent.
Tensor tiled_decode(const Vae& vae, const Tensor& z, int latent_tile) {
  check_tile_size(latent_tile);
  if (z.rank() != 4 || (z.dim(2) <= latent_tile && z.dim(3) <= latent_tile)) return vae.decode(z);
  const int64_t f = vae.config().latent_factor(), sample_tile = latent_tile * f;
  const int64_t blend = int64_t(double(sample_tile) * kTileOverlap);
  const TileGrid grid{latent_tile, int64_t(double(latent_tile) * (1 - kTileOverlap)), blend, sample_tile - blend,
                      z.dim(2) * f, z.dim(3) * f};
  return run_tiles(z, grid, [&vae](const Tensor& tile) { return vae.decode(tile); });
}

// tiled_encode: tiles of tile_sample_min_size pixels, overlap_size = int(tile_sample_min_size * 0.75),
// blend_extent = int(tile_latent_min_size * 0.25), row_limit = tile_latent_min_size - blend_extent.
Vae::Moments tiled_encode(const Vae& vae, const Tensor& image, int latent_tile) {
  check_tile_size(latent_tile);
  const int64_t f = vae.config().latent_factor(), sample_tile = latent_tile * f;
  if (image.rank() != 4 || (image.dim(2) <= sample_tile && image.dim(3) <= sample_tile)) return vae.encode(image);
  const int64_t blend = int64_t(double(latent_tile) * kTileOverlap);
  const TileGrid grid{sample_tile, int64_t(double(sample_tile) * (1 - kTileOverlap)), blend, latent_tile - blend,
                      image.dim(2) / f, image.dim(3) / f};
  return split_channels(run_tiles(image, grid, [&vae](const Tensor& tile) {
    const Vae::Moments m = vae.encode(tile);
    return join_channels(m.mean, m.logvar);
  }));
}

}  // namespace diffuse
