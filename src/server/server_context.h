#pragma once
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "pipeline/latent_preview.h"
#include "pipeline/family.h"
#include "server/image_request.h"
#include "server/job_queue.h"

namespace diffuse::server {

// What every handler shares: the model's family and name, its queue, the limits, the defaults.
// The model itself is the job worker's (its LoRAs change with the jobs); what handlers read of it
// here, LoRAs do not change: the family, and the preview's fit to the VAE, which LoRAs leave alone.
struct ServerContext {
  Family family;
  std::string model_name;  // the checkpoint's file name, as clients see it
  std::string lora_model_dir;  // where <lora:NAME> tags find their files; "" when the server has none
  ServerLimits limits;
  RequestDefaults defaults;
  JobQueue& jobs;
  const LatentPreview& preview;
  // A1111's /options store: what clients set is kept and read back (only the checkpoint matters).
  std::mutex options_mutex;
  nlohmann::json options;
};

}  // namespace diffuse::server
