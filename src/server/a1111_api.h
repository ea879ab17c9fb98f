#pragma once
#include <httplib.h>

#include "server/server_context.h"

namespace diffuse::server {

// AUTOMATIC1111's web API (/sdapi/v1/*, /internal/ping) in its own request and response shapes
// (its modules/api/models.py): txt2img, img2img, progress with a preview, interrupt, skip, and
// the lists its clients read (samplers, schedulers, models, options, cmd-flags). Errors are
// {"error", "detail", "field"} with a 4xx/5xx status.
void add_a1111_routes(httplib::Server& http, ServerContext& context);

}  // namespace diffuse::server
