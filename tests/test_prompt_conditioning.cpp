// A1111-style conditioning (pipeline/prompt_conditioning.h) on the tiny models' text encoders:
// chunks and embeddings against an independent Python re-implementation of A1111's
// (tests/fixtures/prompt-weighting/make_reference.py), and prompts A1111 reads as diffusers does
// giving exactly the embeddings of diffusers' truncating encoder.
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/ops.h"
#include "golden.h"
#include "pipeline_cases.h"
#include "pipeline/prompt_conditioning.h"
#include "pipeline/stable_diffusion.h"

namespace diffuse {
namespace {

using testing::close_to;
using testing::fixture;
using testing::golden;
using testing::Golden;

const StableDiffusion& model(const std::string& family) { return testing::fixture_model(family + "-tiny"); }

// --- against the Python reference ----------------------------------------------------------------

constexpr size_t kTokensPerChunk = 77;

struct ReferenceCase {
  std::string family, name, prompt, negative;
  int clip_skip = 0;
};

void PrintTo(const ReferenceCase& c, std::ostream* os) { *os << c.family << "/" << c.name; }

std::vector<ReferenceCase> reference_cases() {
  std::ifstream in(fixture("prompt-weighting/cases.json"));
  const nlohmann::json cases = nlohmann::json::parse(in);
  std::vector<ReferenceCase> out;
  for (const char* family : {"sd1", "sd2", "sdxl"})
    for (const auto& [name, c] : cases.items()) {
      const nlohmann::json& skip = c.at("clip_skip");
      out.push_back({family, name, c.at("prompt"), c.at("negative"), skip.is_object() ? skip.at(family).get<int>() : skip.get<int>()});
    }
  return out;
}

class AgainstReference : public ::testing::TestWithParam<ReferenceCase> {};

// Token ids and weights of every chunk, exactly.
TEST_P(AgainstReference, ChunksMatch) {
  const ReferenceCase& c = GetParam();
  const TensorArchive expected = load_safetensors(fixture("prompt-weighting/" + c.family + ".safetensors"));
  for (const auto& [which, text] : {std::pair{"negative", c.negative}, std::pair{"prompt", c.prompt}}) {
    const std::vector<PromptChunk> chunks = prompt_chunks(parse_prompt_weights(text), ClipTokenizer::builtin());
    const std::string key = c.name + "." + which;
    const Golden ids = golden(expected, key + ".ids"), weights = golden(expected, key + ".weights");
    ASSERT_EQ(int64_t(chunks.size()), ids.shape[0]) << key << ": chunk count";
    for (size_t k = 0; k < chunks.size(); ++k)
      for (size_t t = 0; t < kTokensPerChunk; ++t) {
        const size_t at = k * kTokensPerChunk + t;
        ASSERT_EQ(chunks[k].ids[t], int(ids.values[at])) << key << " chunk " << k << " token " << t;
        ASSERT_EQ(chunks[k].weights[t], weights.values[at]) << key << " chunk " << k << " weight of token " << t;
      }
  }
}

// The conditioning of [negative, prompt] within the fixtures' 1e-4 relative.
TEST_P(AgainstReference, EmbeddingsMatch) {
  const ReferenceCase& c = GetParam();
  const TensorArchive expected = load_safetensors(fixture("prompt-weighting/" + c.family + ".safetensors"));
  const Conditioning got = model(c.family).encode_text({c.negative, c.prompt}, {true, c.clip_skip});
  const Golden context = golden(expected, c.name + ".context");
  EXPECT_EQ(got.context.shape(), context.shape) << c.family << " " << c.name << " context shape";
  EXPECT_TRUE(close_to(c.family + " " + c.name + " context", got.context.to_vector(), context, testing::kComponentTolerance));
  if (c.family == "sdxl") {
    EXPECT_TRUE(close_to(c.family + " " + c.name + " pooled", got.pooled.to_vector(), golden(expected, c.name + ".pooled"),
                         testing::kComponentTolerance));
  }
}

INSTANTIATE_TEST_SUITE_P(PythonA1111, AgainstReference, ::testing::ValuesIn(reference_cases()),
                         [](const auto& info) { return info.param.family + "_" + info.param.name; });

// --- what must not change --------------------------------------------------------------------------

// The encoder as diffusers runs it (and diffuse did before prompt weighting): each prompt cut to
// 75 tokens and padded, one batch through each encoder, the family's layer.
Conditioning diffusers_conditioning(const StableDiffusion& m, const std::vector<std::string>& prompts) {
  std::vector<ClipTextOutput> outputs;
  for (const ClipTextModel& encoder : m.text_encoders()) {
    std::vector<int> ids;
    for (const std::string& p : prompts) {
      const std::vector<int> row = ClipTokenizer::builtin().encode_padded(p, encoder.config().pad_id);
      ids.insert(ids.end(), row.begin(), row.end());
    }
    outputs.push_back(encoder.encode(ids, int(prompts.size())));
  }
  switch (m.family()) {
    case Family::SD1: return {outputs[0].last_hidden_state, {}};
    case Family::SD2: return {outputs[0].hidden_final_norm, {}};
    case Family::SDXL: return {ops::concat_last(outputs[0].hidden, outputs[1].hidden), outputs[1].text_embeds};
  }
  return {};
}

void expect_identical(const Conditioning& got, const Conditioning& want, const std::string& what) {
  ASSERT_EQ(got.context.shape(), want.context.shape()) << what;
  const std::vector<float> g = got.context.to_vector(), w = want.context.to_vector();
  for (size_t i = 0; i < g.size(); ++i)
    ASSERT_EQ(g[i], w[i]) << what << ": context differs at flat index " << i << " of " << g.size();
  ASSERT_EQ(got.pooled.empty(), want.pooled.empty()) << what << ": pooled";
  if (!want.pooled.empty()) {
    EXPECT_EQ(got.pooled.to_vector(), want.pooled.to_vector()) << what << ": pooled";
  }
}

// A1111's mean restoration is the identity with unit weights, so a prompt without brackets that
// fits one chunk gives diffusers' embeddings bit for bit, weighting on or off.
TEST(PromptConditioning, PlainShortPromptsGiveDiffusersEmbeddingsExactly) {
  const std::vector<std::string> prompts{"", "cute magical flying elephant, fantasy art, golden color"};
  for (const char* family : {"sd1", "sd2", "sdxl"}) {
    const StableDiffusion& m = model(family);
    const Conditioning want = diffusers_conditioning(m, prompts);
    expect_identical(m.encode_text(prompts, {true, 0}), want, std::string(family) + " weighting on");
    expect_identical(m.encode_text(prompts, {false, 0}), want, std::string(family) + " weighting off");
  }
}

// --prompt-weighting off: brackets are text and a long prompt is cut, as diffusers reads it.
TEST(PromptConditioning, WeightingOffIsDiffusersForAnyPrompt) {
  std::string long_prompt = "a (red:1.5) [circle] BREAK on a blue background";
  for (int i = 0; i < 20; ++i) long_prompt += ", word" + std::to_string(i);
  const std::vector<std::string> prompts{"(blurry)", long_prompt};
  for (const char* family : {"sd1", "sd2", "sdxl"}) {
    const StableDiffusion& m = model(family);
    const Conditioning off = m.encode_text(prompts, {false, 0});
    EXPECT_EQ(off.context.dim(1), 77) << family;
    expect_identical(off, diffusers_conditioning(m, prompts), std::string(family) + " weighting off");
    EXPECT_EQ(m.encode_text(prompts, {true, 0}).context.dim(1), 2 * 77) << family << ": weighting on chunks the long prompt";
  }
}

// The family's own layer given explicitly changes nothing; another one does.
TEST(PromptConditioning, ClipSkipCountsFromTheLastLayer) {
  const std::vector<std::string> prompts{"a red circle"};
  for (const auto& [family, own] : {std::pair{"sd1", 1}, std::pair{"sd2", 2}, std::pair{"sdxl", 2}}) {
    const StableDiffusion& m = model(family);
    expect_identical(m.encode_text(prompts, {true, own}), m.encode_text(prompts, {true, 0}), std::string(family) + " own clip skip");
    EXPECT_NE(m.encode_text(prompts, {true, 1 + own % 2}).context.to_vector(), m.encode_text(prompts, {true, 0}).context.to_vector())
        << family;
  }
  try {
    model("sd1").encode_text(prompts, {true, 4});
    ADD_FAILURE() << "clip skip 4 of a 3-layer encoder was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("clip skip 4 is outside 1..3"), std::string::npos) << e.what();
  }
}

// A1111's empty_chunk pads the shorter prompt: the negative's second chunk is the empty prompt's.
TEST(PromptConditioning, ShorterPromptsArePaddedWithTheEmptyChunk) {
  std::string long_prompt;
  for (int i = 0; i < 80; ++i) long_prompt += "cat ";
  const StableDiffusion& m = model("sd1");
  const Conditioning both = m.encode_text({"dog", long_prompt}, {true, 0});
  const Conditioning empty = m.encode_text({""}, {true, 0});
  ASSERT_EQ(both.context.dim(1), 2 * 77);
  const int64_t c = both.context.dim(2);
  const std::vector<float> all = both.context.to_vector();
  // Encoded in another batch: equal up to the kernels' blocking.
  EXPECT_TRUE(close_to("sd1 negative's second chunk against the empty prompt's",
                       std::vector<float>(all.begin() + 77 * c, all.begin() + 2 * 77 * c),
                       Golden{empty.context.shape(), empty.context.to_vector()}, 1e-5));
  // A chunk of its own per BREAK, even an empty one.
  EXPECT_EQ(prompt_chunks(parse_prompt_weights("BREAK a"), ClipTokenizer::builtin()).size(), 2u);
  EXPECT_EQ(prompt_chunks(parse_prompt_weights("a BREAK"), ClipTokenizer::builtin()).size(), 1u);
}

}  // namespace
}  // namespace diffuse
