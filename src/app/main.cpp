// diffuse: Stable Diffusion in C++. Subcommands: generate, serve, info, tokenize, bench.
#include <cstdio>
#include <vector>

#include "app/commands.h"
#include "app/memory_usage.h"
#include "core/error.h"

int main(int argc, char** argv) {
  diffuse::app::return_large_frees_to_the_system();
  CLI::App app{"diffuse: Stable Diffusion text-to-image on the CPU, matching Hugging Face diffusers"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "diffuse 0.1");
  const std::vector<diffuse::app::Command> commands{diffuse::app::add_generate(app), diffuse::app::add_serve(app), diffuse::app::add_info(app),
                                                    diffuse::app::add_tokenize(app), diffuse::app::add_bench(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    const CLI::App* failing = &app;
    for (const auto& c : commands)
      if (c.app->parsed()) failing = c.app;
    std::fprintf(stderr, "diffuse: %s\n\n%s", e.what(), failing->help().c_str());
    return 2;
  }
  try {
    for (const auto& c : commands)
      if (c.app->parsed()) return c.run();
    return 2;
  } catch (const std::exception& e) {  // diffuse::Error and anything else: one line, never a crash
    std::fprintf(stderr, "diffuse: error: %s\n", e.what());
    return 1;
  }
}
