#include <cstdio>

#include "app/commands.h"
#include "text/clip_tokenizer.h"

namespace diffuse::app {

Command add_tokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Print the CLIP token ids of TEXT (without BOS/EOS)");
  auto text = std::make_shared<std::string>();
  cmd->add_option("text", *text, "Text to tokenize")->required();
  return {cmd, [text] {
            const std::vector<int> ids = ClipTokenizer::builtin().encode(*text);
            for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
            std::printf("\n");
            return 0;
          }};
}

}  // namespace diffuse::app
