#pragma once
#include <string>

#include "pipeline/stable_diffusion.h"
#include "server/image_request.h"

namespace diffuse::server {

struct ServeOptions {
  std::string host = "127.0.0.1";  // loopback: another address is the user's explicit choice
  int port = 7860;                 // 0: any free port (the listening line names it)
  std::string model_name;          // as clients see it (the checkpoint's file name)
  ServerLimits limits;
  RequestDefaults defaults;
  int read_timeout_seconds = 10;   // a client that sends nothing for this long is dropped
};

// Serves the web page, the A1111 and OpenAI APIs on the loaded model until SIGINT or SIGTERM,
// then stops taking requests, interrupts the running job (its client gets what was made),
// answers the queued ones 503 and returns 0. Prints "listening on http://HOST:PORT" on stderr
// once it accepts connections, one line per request and per job after that. Throws Error when
// it cannot listen.
int serve(const StableDiffusion& model, const ServeOptions& options);

}  // namespace diffuse::server
