#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace diffuse {

// 8-bit RGB, row-major, channels interleaved: the one pixel format the engine reads and writes.
struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
};

// (keyword, text) pairs as PNG text chunks carry them, both UTF-8 here.
using TextChunks = std::vector<std::pair<std::string, std::string>>;

// Larger sides are refused before any pixel buffer is allocated: a hostile header could
// otherwise ask for gigabytes, and no Stable Diffusion model works at such sizes.
inline constexpr int kMaxImageSide = 16384;

// Reads any PNG (grey, palette, 1..16-bit, with or without alpha) as 8-bit RGB; alpha is
// dropped, not composited. Throws Error("<path>: <problem>") for a missing, unreadable,
// corrupt or truncated file and for a side larger than kMaxImageSide.
Image read_png(const std::string& path);

// Writes an 8-bit RGB PNG whose text chunks, written before the pixels, hold `text` in
// order: ASCII values as tEXt, others as UTF-8 iTXt (tEXt is Latin-1 by the PNG spec, and
// that is also what PIL, hence AUTOMATIC1111, does). The file is written beside `path`
// under a temporary name and renamed into place, so a failure never leaves a partial image.
// Throws Error("<path>: <problem>").
void write_png(const std::string& path, const Image& image, const TextChunks& text = {});

// read_png for a PNG held in memory (an upload); `name` stands for the path in errors. A header
// promising more than `max_pixels` is refused before any pixel buffer is allocated.
Image decode_png(std::string_view bytes, const std::string& name, int64_t max_pixels = int64_t(kMaxImageSide) * kMaxImageSide);

// The alpha channel of a PNG held in memory, checked and bounded as decode_png checks it: an Image
// whose three channels each hold the alpha (255 opaque), or nullopt for a PNG without one. Alpha is
// an alpha colour type or a tRNS chunk (as PIL's convert("RGBA") reads it). decode_png and read_png
// still drop alpha.
std::optional<Image> decode_png_alpha(std::string_view bytes, const std::string& name,
                                      int64_t max_pixels = int64_t(kMaxImageSide) * kMaxImageSide);

// write_png's bytes, for a PNG sent rather than stored.
std::string encode_png(const Image& image, const TextChunks& text = {});

// Resamples to width x height with a box filter over each output pixel's footprint (bilinear where
// enlarging), as A1111's "Just resize" does for img2img inputs of another size.
Image resize_image(const Image& image, int width, int height);

// PIL's Image.resize((width, height), Image.LANCZOS) on an RGB image, bit for bit (libImaging/Resample.c:
// Lanczos a = 3, widened by the scale when shrinking; 8-bit fixed point, the horizontal pass first), as
// A1111's Lanczos upscaler runs it.
Image resize_lanczos(const Image& image, int width, int height);

// The tEXt, zTXt and iTXt chunks of a PNG in file order, decoded to UTF-8 (tEXt and zTXt
// from Latin-1). Validates the whole file as read_png does.
TextChunks read_png_text(const std::string& path);

}  // namespace diffuse
