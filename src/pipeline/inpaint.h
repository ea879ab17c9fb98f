#pragma once
// Inpainting's mask handling: the user's mask made into the binary mask diffusers 0.27.2's
// StableDiffusionInpaintPipeline works with, and the tensors its denoising loop builds from it.
// The loop itself (which draws happen when, the blend after every step) is in generate.cpp.
#include "core/tensor.h"
#include "io/image.h"

namespace diffuse {

// A1111's mask conventions, then diffusers': grey as PIL's convert("L"), inverted (255 - v) when
// asked, blurred with A1111's Gaussian (sigma `blur` pixels, kernel 2 int(2.5 blur + 0.5) + 1, each
// axis, edges mirrored as cv2's BORDER_REFLECT_101), resized to width x height when its size differs
// (resize_image, as A1111 resizes a mask), then binarised at 0.5: 1 = repaint. [1, 1, height, width].
// Throws Error for a blur outside [0, kMaxMaskBlur].
inline constexpr int kMaxMaskBlur = 256;
Tensor prepare_mask(const Image& mask, int width, int height, int blur, bool invert);

// torch.nn.functional.interpolate(mask, size=(height, width)) in its default "nearest" mode.
Tensor resize_nearest(const Tensor& mask, int height, int width);

// diffusers' masked_image = image * (mask < 0.5): the known pixels, zero (mid-grey) where repainted.
Tensor masked_image(const Tensor& image_nchw, const Tensor& mask);

// a and b (batch 1) joined along channels: the 9-channel UNet's input is [latents, mask,
// masked-image latents].
Tensor concat_channels(const Tensor& a, const Tensor& b);

// (1 - mask) * known + mask * generated, the mask broadcast over channels: the 4-channel UNet's
// way to keep the known region, in diffusers' float32 order of operations.
Tensor blend_known(const Tensor& known, const Tensor& generated, const Tensor& mask);

}  // namespace diffuse
