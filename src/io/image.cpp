#include "io/image.h"

#include <fcntl.h>
#include <png.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <utility>

#include "core/error.h"

// libpng reports errors by longjmp. Every libpng call that can fail runs inside one of the
// small `*_steps` functions below, whose frames hold only trivially destructible locals, so
// the jump skips no destructor; everything that must be freed lives in a caller's frame
// (PngRead, PngWrite, vectors) and is released by ordinary C++ unwinding after we throw.

namespace diffuse {
namespace {

// Filled by the error callback, which must not allocate (an exception or a leak there
// would escape through libpng's C frames).
struct ErrorText {
  char text[256] = {};
};

[[noreturn]] void on_png_error(png_structp png, png_const_charp message) {
  auto* error = static_cast<ErrorText*>(png_get_error_ptr(png));
  std::snprintf(error->text, sizeof error->text, "%s", message);
  png_longjmp(png, 1);
}

constexpr png_alloc_size_t kMaxPngChunkBytes = 8'000'000;  // libpng's PNG_USER_CHUNK_MALLOC_MAX

// Warnings (unknown sRGB profiles, benign CRC slips in ancillary chunks) do not stop the
// read and would only be noise on stderr.
void on_png_warning(png_structp, png_const_charp) {}

struct PngRead {
  std::string path;
  FILE* file = nullptr;
  png_structp png = nullptr;
  png_infop info = nullptr;
  ErrorText error;
  bool has_alpha = false;  // the file's own: an alpha colour type or tRNS
  PngRead() = default;
  PngRead(const PngRead&) = delete;
  PngRead& operator=(const PngRead&) = delete;
  ~PngRead() {
    if (png) png_destroy_read_struct(&png, &info, nullptr);
    if (file) std::fclose(file);
  }
};

// Our own read callback, so that a short read says "truncated" rather than libpng's
// generic "Read Error".
void read_data(png_structp png, png_bytep data, size_t length) {
  auto* read = static_cast<PngRead*>(png_get_io_ptr(png));
  if (std::fread(data, 1, length, read->file) != length)
    png_error(png, std::ferror(read->file) ? std::strerror(errno) : "file is truncated");
}

bool read_header_steps(PngRead& r) {
  if (setjmp(png_jmpbuf(r.png))) return false;
  png_set_read_fn(r.png, &r, read_data);
  png_set_sig_bytes(r.png, 8);
  // libpng's own default limit (1e6 per side) would fire first with a less helpful
  // message; the kMaxImageSide check after the header is the one that matters.
  png_set_user_limits(r.png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
  // Caps what a compressed text chunk or ICC profile may inflate to (check_chunk_lengths caps
  // the chunks as stored); real ones stay far below it.
  png_set_chunk_malloc_max(r.png, kMaxPngChunkBytes);
  png_read_info(r.png, r.info);
  return true;
}

// Every input layout becomes 8-bit RGB. tRNS is deliberately not expanded: alpha is dropped.
// With `alpha`, 8-bit RGBA instead (tRNS expanded to alpha), for decode_png_alpha.
bool set_rgb8_steps(PngRead& r, bool alpha) {
  if (setjmp(png_jmpbuf(r.png))) return false;
  png_set_palette_to_rgb(r.png);
  png_set_expand_gray_1_2_4_to_8(r.png);
  png_set_scale_16(r.png);  // rounds 16 -> 8 bits, where strip_16 would truncate
  if (alpha)
    png_set_tRNS_to_alpha(r.png);
  else
    png_set_strip_alpha(r.png);
  png_set_gray_to_rgb(r.png);
  png_set_interlace_handling(r.png);
  png_read_update_info(r.png, r.info);
  return true;
}

bool read_rows_steps(PngRead& r, png_bytepp rows) {
  if (setjmp(png_jmpbuf(r.png))) return false;
  png_read_image(r.png, rows);
  png_read_end(r.png, r.info);  // same info: text after the pixels joins the list in order
  return true;
}

// libpng allocates and clears a chunk's declared length before reading its bytes, and past its
// chunk cap it only warns: a 200-byte file declaring a 2 GB text chunk would cost 2 GB. So the
// chunk headers are walked first; pixel data (IDAT) is streamed by libpng and needs no cap.
void check_chunk_lengths(const std::string& path, FILE* file) {
  const long start = std::ftell(file);
  unsigned char header[8];
  while (std::fread(header, 1, sizeof header, file) == sizeof header) {
    const uint32_t length = uint32_t(header[0]) << 24 | uint32_t(header[1]) << 16 | uint32_t(header[2]) << 8 | header[3];
    std::string type(reinterpret_cast<const char*>(header + 4), 4);
    if (type == "IEND") break;
    if (type != "IDAT" && length > kMaxPngChunkBytes) {
      for (char& c : type) c = std::isalpha(static_cast<unsigned char>(c)) ? c : '?';
      throw Error(path + ": PNG chunk '" + type + "' declares " + std::to_string(length) + " bytes, more than the " +
                  std::to_string(kMaxPngChunkBytes) + " a chunk may hold");
    }
    if (std::fseek(file, long(length) + 4, SEEK_CUR) != 0) break;  // the data and its CRC
  }
  std::clearerr(file);
  std::fseek(file, start, SEEK_SET);
}

[[noreturn]] void throw_corrupt(const PngRead& r) {
  throw Error(r.path + ": corrupt PNG: " + r.error.text);
}

// Checks r.file's signature and size and prepares libpng to deliver 8-bit RGB rows; with `alpha`,
// RGBA rows where the file has alpha (r.has_alpha) and none where not. `path` names the source in errors.
void start_png(const std::string& path, PngRead& r, bool alpha = false) {
  png_byte signature[8];
  if (std::fread(signature, 1, sizeof signature, r.file) != sizeof signature ||
      png_sig_cmp(signature, 0, sizeof signature) != 0) {
    if (std::ferror(r.file)) throw Error(path + ": cannot read: " + std::strerror(errno));
    throw Error(path + ": not a PNG file");
  }
  check_chunk_lengths(path, r.file);
  r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r.error, on_png_error, on_png_warning);
  if (r.png) r.info = png_create_info_struct(r.png);
  if (!r.info) throw Error(path + ": out of memory for the PNG decoder");

  if (!read_header_steps(r)) throw_corrupt(r);
  const png_uint_32 width = png_get_image_width(r.png, r.info);
  const png_uint_32 height = png_get_image_height(r.png, r.info);
  if (width > png_uint_32(kMaxImageSide) || height > png_uint_32(kMaxImageSide))
    throw Error(path + ": image is " + std::to_string(width) + "x" + std::to_string(height) +
                ", larger than the " + std::to_string(kMaxImageSide) + " per side allowed");
  r.has_alpha = (png_get_color_type(r.png, r.info) & PNG_COLOR_MASK_ALPHA) || png_get_valid(r.png, r.info, PNG_INFO_tRNS);
  if (alpha && !r.has_alpha) return;  // nothing to deliver: the caller reads no rows
  if (!set_rgb8_steps(r, alpha)) throw_corrupt(r);
  if (png_get_rowbytes(r.png, r.info) != size_t(width) * (alpha ? 4 : 3))
    throw Error(path + ": PNG layout could not be converted to 8-bit RGB");
}

void open_png(const std::string& path, PngRead& r) {
  r.path = path;
  r.file = std::fopen(path.c_str(), "rbe");
  if (!r.file) throw Error(path + ": cannot open: " + std::strerror(errno));
  start_png(path, r);
}

void open_png_bytes(std::string_view bytes, const std::string& name, PngRead& r, bool alpha = false) {
  r.path = name;
  if (bytes.empty()) throw Error(name + ": not a PNG file (no data)");
  // fmemopen only reads through the pointer in "r" mode.
  r.file = ::fmemopen(const_cast<char*>(bytes.data()), bytes.size(), "rb");
  if (!r.file) throw Error(name + ": cannot read: " + std::strerror(errno));
  start_png(name, r, alpha);
}

void read_rows(PngRead& r, std::vector<png_bytep>& rows) {
  if (!read_rows_steps(r, rows.data())) throw_corrupt(r);
}

std::string latin1_to_utf8(const char* text, size_t length) {
  std::string out;
  out.reserve(length);
  for (size_t i = 0; i < length; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      out += char(c);
    } else {
      out += char(0xC0 | (c >> 6));
      out += char(0x80 | (c & 0x3F));
    }
  }
  return out;
}

TextChunks text_chunks(const PngRead& r) {
  png_textp texts = nullptr;
  const int count = png_get_text(r.png, r.info, &texts, nullptr);
  TextChunks out;
  for (int i = 0; i < count; ++i) {
    const png_text& t = texts[i];
    std::string key = latin1_to_utf8(t.key, std::strlen(t.key));
    const bool utf8 = t.compression >= PNG_ITXT_COMPRESSION_NONE;  // iTXt, compressed or not
    std::string value = utf8 ? std::string(t.text, t.itxt_length) : latin1_to_utf8(t.text, t.text_length);
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

struct PngWrite {
  FILE* file = nullptr;
  png_structp png = nullptr;
  png_infop info = nullptr;
  ErrorText error;
  PngWrite() = default;
  PngWrite(const PngWrite&) = delete;
  PngWrite& operator=(const PngWrite&) = delete;
  ~PngWrite() {
    if (png) png_destroy_write_struct(&png, &info);
    if (file) std::fclose(file);
  }
};

// Our own write callback, so that a full disk is reported as such.
void write_data(png_structp png, png_bytep data, size_t length) {
  auto* write = static_cast<PngWrite*>(png_get_io_ptr(png));
  if (std::fwrite(data, 1, length, write->file) != length) png_error(png, std::strerror(errno));
}

bool write_steps(PngWrite& w, const Image& image, std::vector<png_text>& text,
                 std::vector<png_bytep>& rows) {
  if (setjmp(png_jmpbuf(w.png))) return false;
  png_set_write_fn(w.png, &w, write_data, nullptr);
  png_set_IHDR(w.png, w.info, png_uint_32(image.width), png_uint_32(image.height), 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!text.empty()) png_set_text(w.png, w.info, text.data(), int(text.size()));
  png_write_info(w.png, w.info);  // text before the pixels, where readers that stop early see it
  png_write_image(w.png, rows.data());
  png_write_end(w.png, nullptr);
  return true;
}

// libpng would silently rewrite a keyword it dislikes; refusing keeps read_png_text an exact
// inverse of write_png.
bool valid_keyword(const std::string& key) {
  if (key.empty() || key.size() > 79 || key.front() == ' ' || key.back() == ' ') return false;
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] < 0x20 || key[i] > 0x7E) return false;
    if (key[i] == ' ' && key[i + 1] == ' ') return false;
  }
  return true;
}

std::vector<png_text> to_png_text(const std::string& path, const TextChunks& chunks) {
  std::vector<png_text> out;
  for (const auto& [key, value] : chunks) {
    if (!valid_keyword(key))
      throw Error(path + ": text key \"" + key +
                  "\" is not a PNG keyword (1-79 printable ASCII characters, single inner spaces)");
    if (value.find('\0') != std::string::npos)
      throw Error(path + ": text \"" + key + "\" contains a NUL byte, which PNG text cannot hold");
    const bool ascii = std::all_of(value.begin(), value.end(), [](char c) { return (c & 0x80) == 0; });
    png_text t{};
    t.key = const_cast<char*>(key.c_str());  // libpng only reads these
    t.text = const_cast<char*>(value.c_str());
    if (ascii) {
      t.compression = PNG_TEXT_COMPRESSION_NONE;
      t.text_length = value.size();
    } else {
      t.compression = PNG_ITXT_COMPRESSION_NONE;
      t.itxt_length = value.size();
    }
    out.push_back(t);
  }
  return out;
}

// A file beside the target, removed on destruction unless it was renamed into place.
struct TempFile {
  std::string path;
  bool renamed = false;
  ~TempFile() {
    if (!path.empty() && !renamed) ::unlink(path.c_str());
  }
};

// O_EXCL with a per-process counter: concurrent writers (threads or processes) never share a
// temporary. Created with 0666 so the umask, not us, decides the final image's permissions.
int create_temp_beside(const std::string& path, TempFile& temp) {
  static std::atomic<unsigned> counter{0};
  const std::filesystem::path target(path);
  for (;;) {
    const std::string name = "." + target.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                             std::to_string(counter++);
    std::string candidate = std::filesystem::path(target).replace_filename(name).string();
    const int fd = ::open(candidate.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      temp.path = std::move(candidate);
      return fd;
    }
    if (errno != EEXIST) throw Error(path + ": cannot create a file beside it: " + std::strerror(errno));
  }
}

Image read_pixels(PngRead& r) {
  Image image;
  image.width = int(png_get_image_width(r.png, r.info));
  image.height = int(png_get_image_height(r.png, r.info));
  const size_t stride = size_t(image.width) * 3;
  image.rgb.resize(stride * size_t(image.height));
  std::vector<png_bytep> rows(size_t(image.height));
  for (size_t y = 0; y < rows.size(); ++y) rows[y] = image.rgb.data() + y * stride;
  read_rows(r, rows);
  return image;
}

}  // namespace

Image read_png(const std::string& path) {
  PngRead r;
  open_png(path, r);
  return read_pixels(r);
}

Image decode_png(std::string_view bytes, const std::string& name, int64_t max_pixels) {
  PngRead r;
  open_png_bytes(bytes, name, r);
  const int64_t width = png_get_image_width(r.png, r.info), height = png_get_image_height(r.png, r.info);
  if (width * height > max_pixels)
    throw Error(name + ": image is " + std::to_string(width) + "x" + std::to_string(height) + ", more than the " +
                std::to_string(max_pixels) + " pixels allowed");
  return read_pixels(r);
}

std::optional<Image> decode_png_alpha(std::string_view bytes, const std::string& name, int64_t max_pixels) {
  PngRead r;
  open_png_bytes(bytes, name, r, true);
  const int64_t width = png_get_image_width(r.png, r.info), height = png_get_image_height(r.png, r.info);
  if (width * height > max_pixels)
    throw Error(name + ": image is " + std::to_string(width) + "x" + std::to_string(height) + ", more than the " +
                std::to_string(max_pixels) + " pixels allowed");
  if (!r.has_alpha) return std::nullopt;
  const size_t pixels = size_t(width) * size_t(height), stride = size_t(width) * 4;
  std::vector<uint8_t> rgba(stride * size_t(height));
  std::vector<png_bytep> rows(static_cast<size_t>(height));
  for (size_t y = 0; y < rows.size(); ++y) rows[y] = rgba.data() + y * stride;
  read_rows(r, rows);
  Image alpha{int(width), int(height), std::vector<uint8_t>(pixels * 3)};
  for (size_t i = 0; i < pixels; ++i) alpha.rgb[3 * i] = alpha.rgb[3 * i + 1] = alpha.rgb[3 * i + 2] = rgba[4 * i + 3];
  return alpha;
}

TextChunks read_png_text(const std::string& path) {
  PngRead r;
  open_png(path, r);
  // Text after the pixels is only reachable by decoding them; every row lands in one scratch
  // row, so a text read costs no image-sized buffer.
  std::vector<png_byte> scratch(png_get_rowbytes(r.png, r.info));
  std::vector<png_bytep> rows(png_get_image_height(r.png, r.info), scratch.data());
  read_rows(r, rows);
  return text_chunks(r);
}

namespace {

// The checks and row pointers both writers need; `path` names the target in errors.
struct EncodeInput {
  std::vector<png_text> text;
  std::vector<png_bytep> rows;
};

EncodeInput prepare_encode(const std::string& path, const Image& image, const TextChunks& text) {
  if (image.width < 1 || image.height < 1 || image.width > kMaxImageSide || image.height > kMaxImageSide)
    throw Error(path + ": cannot write a " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                " image (sides must be 1.." + std::to_string(kMaxImageSide) + ")");
  const size_t stride = size_t(image.width) * 3;
  if (image.rgb.size() != stride * size_t(image.height))
    throw Error(path + ": image is " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                " but holds " + std::to_string(image.rgb.size()) + " bytes, not width*height*3");
  EncodeInput in{to_png_text(path, text), std::vector<png_bytep>(size_t(image.height))};
  for (size_t y = 0; y < in.rows.size(); ++y) in.rows[y] = const_cast<png_bytep>(image.rgb.data() + y * stride);
  return in;
}

void encode_to(const std::string& path, PngWrite& w, const Image& image, EncodeInput& in) {
  w.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &w.error, on_png_error, on_png_warning);
  if (w.png) w.info = png_create_info_struct(w.png);
  if (!w.info) throw Error(path + ": out of memory for the PNG encoder");
  if (!write_steps(w, image, in.text, in.rows)) throw Error(path + ": cannot write PNG: " + w.error.text);
}

}  // namespace

void write_png(const std::string& path, const Image& image, const TextChunks& text) {
  EncodeInput in = prepare_encode(path, image, text);
  TempFile temp;  // declared before w: the file is closed before the temporary is unlinked
  PngWrite w;
  const int fd = create_temp_beside(path, temp);
  w.file = ::fdopen(fd, "wb");
  if (!w.file) {
    ::close(fd);
    throw Error(path + ": cannot open for writing: " + std::strerror(errno));
  }
  encode_to(path, w, image, in);

  // Flushed and synced before the rename, so a crash cannot leave an empty file under the name.
  if (std::fflush(w.file) != 0 || ::fsync(::fileno(w.file)) != 0)
    throw Error(path + ": cannot write PNG: " + std::strerror(errno));
  FILE* file = std::exchange(w.file, nullptr);
  if (std::fclose(file) != 0) throw Error(path + ": cannot write PNG: " + std::strerror(errno));
  if (std::rename(temp.path.c_str(), path.c_str()) != 0)
    throw Error(path + ": cannot move the written image into place: " + std::strerror(errno));
  temp.renamed = true;
}

std::string encode_png(const Image& image, const TextChunks& text) {
  const std::string name = "PNG in memory";
  EncodeInput in = prepare_encode(name, image, text);
  char* buffer = nullptr;
  size_t size = 0;
  struct Free {
    char*& b;
    ~Free() { std::free(b); }
  } free_buffer{buffer};  // declared before w: the stream is closed (buffer final) before it is freed
  {
    PngWrite w;
    w.file = ::open_memstream(&buffer, &size);
    if (!w.file) throw Error(name + ": out of memory");
    encode_to(name, w, image, in);
    FILE* file = std::exchange(w.file, nullptr);
    if (std::fclose(file) != 0) throw Error(name + ": cannot write PNG: " + std::strerror(errno));
  }
  return std::string(buffer, size);
}

}  // namespace diffuse
