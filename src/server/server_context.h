#pragma once
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "pipeline/latent_preview.h"
#include "pipeline/stable_diffusion.h"
#include "server/image_request.h"
#include "server/job_queue.h"

namespace diffuse::server {

// What every handler shares: the one loaded model and its queue, the limits, the defaults.
struct ServerContext {
  const StableDiffusion& model;
  std::string model_name;  // the checkpoint's file name, as clients see it
  ServerLimits limits;
  RequestDefaults defaults;
  JobQueue& jobs;
  const LatentPreview& preview;
  // A1111's /options store: what clients set is kept and read back (only the checkpoint matters).
  std::mutex options_mutex;
  nlohmann::json options;
};

}  // namespace diffuse::server
