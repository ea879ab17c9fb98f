#pragma once
#include "io/tensor_archive.h"

namespace diffuse {

// Renames an open_clip text tower (SD2's cond_stage_model.model.*, SDXL's
// conditioner.embedders.1.model.*, prefix already stripped) into Hugging Face CLIPTextModel
// names, so one text encoder implementation serves every checkpoint:
//  - the fused attention input projection attn.in_proj_{weight,bias} ([3C, C], [3C]) becomes
//    self_attn.{q,k,v}_proj.*: its row blocks are contiguous, so they stay views of the file;
//  - text_projection, a [hidden, proj] matrix open_clip applies as x @ P, becomes
//    text_projection.weight = its transpose [proj, hidden] (nn.Linear layout), copied into a
//    buffer the archive owns, same dtype;
//  - logit_scale and attn_mask are dropped (not text-encoder weights).
// Throws Error naming the archive and any tensor it cannot place.
TensorArchive text_encoder_from_open_clip(TensorArchive&& open_clip);

}  // namespace diffuse
