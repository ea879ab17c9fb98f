// PNG reading on arbitrary bytes, as the server decodes uploads (decode_png, decode_png_alpha under
// its upload limit) and as `diffuse info` reads text chunks (read_png_text). Beyond not crashing:
// the pixels fill exactly width x height x 3 bytes within the limit, the alpha plane has the
// image's size, and what write_png/encode_png write reads back the same, pixels and text.
#include "fuzz_input.h"
#include "io/image.h"

using namespace diffuse;

namespace {

constexpr int64_t kMaxPixels = 4 * 1024 * 1024;  // the server's upload limit at its default --max-pixels

void check_image(const Image& image) {
  FUZZ_CHECK(image.width >= 1 && image.height >= 1 && int64_t(image.width) * image.height <= kMaxPixels);
  FUZZ_CHECK(image.rgb.size() == size_t(image.width) * size_t(image.height) * 3);
}

void check_text(const TextChunks& text) {
  std::string encoded;
  try {
    encoded = encode_png(Image{1, 1, {1, 2, 3}}, text);
  } catch (const Error& e) {
    return fuzz::check_refusal(e);  // keywords or values PNG text cannot hold are refused on writing
  }
  const std::string path = fuzz::as_file(reinterpret_cast<const uint8_t*>(encoded.data()), encoded.size());
  FUZZ_CHECK(read_png_text(path) == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes = fuzz::text(data, size);
  std::optional<Image> image;
  try {
    image = decode_png(bytes, "upload.png", kMaxPixels);
    check_image(*image);
    const std::optional<Image> alpha = decode_png_alpha(bytes, "upload.png", kMaxPixels);
    if (alpha) FUZZ_CHECK(alpha->width == image->width && alpha->height == image->height && alpha->rgb.size() == image->rgb.size());
  } catch (const Error& e) {
    fuzz::check_refusal(e);
  }
  if (image) FUZZ_CHECK(decode_png(encode_png(*image), "round trip", kMaxPixels).rgb == image->rgb);

  TextChunks text;
  try {
    text = read_png_text(fuzz::as_file(data, size));
  } catch (const Error& e) {
    return fuzz::check_refusal(e), 0;
  }
  check_text(text);
  return 0;
}
