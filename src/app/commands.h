#pragma once
#include <functional>

#include <CLI/CLI.hpp>

// Each subcommand registers itself and its flags on the CLI11 app, and hands back what to run
// once parsing succeeded.
namespace diffuse::app {

struct Command {
  CLI::App* app;
  std::function<int()> run;
};

Command add_bench(CLI::App& app);
Command add_generate(CLI::App& app);
Command add_info(CLI::App& app);
Command add_serve(CLI::App& app);
Command add_tokenize(CLI::App& app);

}  // namespace diffuse::app
