#pragma once
#include <httplib.h>

#include "server/server_context.h"

namespace diffuse::server {

// OpenAI's images API: POST /v1/images/generations (JSON), POST /v1/images/edits (multipart:
// image + prompt, run as img2img), GET /v1/models. Answers {created, data: [{b64_json}]};
// errors {"error": {message, type, param, code}}. The official clients work unchanged against
// a baseURL pointing here. Beyond OpenAI's fields, negative_prompt, seed, steps, cfg_scale,
// sampler_name, scheduler and (edits) strength are read when given.
void add_openai_routes(httplib::Server& http, ServerContext& context);

}  // namespace diffuse::server
