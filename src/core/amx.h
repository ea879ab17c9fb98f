#pragma once
#include <cstdint>

namespace diffuse {

// Whether this process may run AMX's bf16 tile instructions: the CPU has AMX-TILE, AMX-BF16 and
// AVX512-BF16 and the kernel granted the process the tile registers' state (Linux 5.16+, asked
// once here; oneDNN asks too).
bool amx_usable();

// The 64-byte operand of LDTILECFG (palette 1): each tile's rows and bytes per row.
struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
};

// All eight tiles at their largest, 16 rows of 64 bytes.
TileConfig full_tiles();

}  // namespace diffuse
