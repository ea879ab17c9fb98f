#pragma once
#include <memory>
#include <string>

#include "pipeline/stable_diffusion.h"
#include "server/image_request.h"

namespace diffuse::server {

struct ServeOptions {
  std::string host = "127.0.0.1";  // loopback: another address is the user's explicit choice
  int port = 7860;                 // 0: any free port (the listening line names it)
  std::string model_name;          // as clients see it (the checkpoint's file name)
  std::string model_path;          // what is loaded again when a job's LoRAs differ from the last job's
  LoadOptions load;                // how it was loaded (without LoRAs); load.lora_lenient applies to the jobs' LoRAs
  std::string lora_model_dir;      // where <lora:NAME> tags find their files; "": tags are refused
  ServerLimits limits;
  RequestDefaults defaults;
  int read_timeout_seconds = 10;   // a client that sends nothing for this long is dropped
};

// Serves the web page, the A1111 and OpenAI APIs on `model` (options.model_path loaded with
// options.load, no LoRAs; reloaded with a job's LoRAs when it names some) until SIGINT or SIGTERM,
// then stops taking requests, interrupts the running job (its client gets what was made),
// answers the queued ones 503 and returns 0. Prints "listening on http://HOST:PORT" on stderr
// once it accepts connections, one line per request and per job after that. Throws Error when
// it cannot listen.
// Call block_stop_signals() first, before the model loads.
int serve(std::unique_ptr<StableDiffusion> model, const ServeOptions& options);

// Blocks SIGINT and SIGTERM in the calling thread and in every thread started after it, so that
// serve()'s watcher is the one thread that receives them. Loading a model starts OpenMP's workers,
// which inherit the mask they are created with: a worker created before would take the signal's
// default action and kill the server mid-job.
void block_stop_signals();

}  // namespace diffuse::server
