// The name table (sampling/sampler_names.h): every name of diffuse, stable-diffusion.cpp and
// A1111 for an implemented sampler or schedule selects it; the names of others are refused with
// the list of what is implemented.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "sampling/sampler_names.h"

namespace diffuse {
namespace {

struct NameCase {
  std::string name;
  SamplerChoice expected;
};

void PrintTo(const NameCase& c, std::ostream* os) { *os << "'" << c.name << "'"; }

class SamplerName : public ::testing::TestWithParam<NameCase> {};

TEST_P(SamplerName, SelectsTheSampler) {
  const SamplerChoice got = resolve_sampler(GetParam().name);
  const SamplerChoice& want = GetParam().expected;
  EXPECT_EQ(got, want) << "'" << GetParam().name << "' selects " << got.sampler << (got.karras ? " karras" : "")
                       << " spacing " << got.timestep_spacing.value_or("-") << ", expected " << want.sampler
                       << (want.karras ? " karras" : "") << " spacing " << want.timestep_spacing.value_or("-");
}

INSTANTIATE_TEST_SUITE_P(
    Diffuse, SamplerName,
    ::testing::Values(NameCase{"ddim", {"ddim"}}, NameCase{"pndm", {"pndm"}}, NameCase{"euler", {"euler"}},
                      NameCase{"euler_a", {"euler_a"}}, NameCase{"heun", {"heun"}}, NameCase{"dpmpp_2m", {"dpmpp_2m"}},
                      NameCase{"lcm", {"lcm"}}, NameCase{"unipc", {"unipc"}}));

// stable-diffusion.cpp's sample_method_to_str names of the samplers diffuse has.
INSTANTIATE_TEST_SUITE_P(
    StableDiffusionCpp, SamplerName,
    ::testing::Values(NameCase{"dpm++2m", {"dpmpp_2m"}}, NameCase{"ddim_trailing", {"ddim", false, "trailing"}},
                      NameCase{"DPM++2M", {"dpmpp_2m"}}));

// A1111's display names (infotext, API), its k-diffusion ids, and its pre-1.9 "<name> Karras".
INSTANTIATE_TEST_SUITE_P(
    A1111, SamplerName,
    ::testing::Values(NameCase{"DDIM", {"ddim"}}, NameCase{"PLMS", {"pndm"}}, NameCase{"Euler", {"euler"}},
                      NameCase{"Euler a", {"euler_a"}}, NameCase{"k_euler_ancestral", {"euler_a"}},
                      NameCase{"Heun", {"heun"}}, NameCase{"DPM++ 2M", {"dpmpp_2m"}}, NameCase{"k_dpmpp_2m", {"dpmpp_2m"}},
                      NameCase{"LCM", {"lcm"}}, NameCase{"UniPC", {"unipc"}}, NameCase{"euler A", {"euler_a"}},
                      NameCase{"DPM++ 2M Karras", {"dpmpp_2m", true}}, NameCase{"k_dpmpp_2m_ka", {"dpmpp_2m", true}},
                      NameCase{"Euler Karras", {"euler", true}}));

TEST(SamplerNames, DisplayNamesAreA1111s) {
  const std::vector<std::pair<std::string, std::string>> expected{
      {"ddim", "DDIM"}, {"pndm", "PLMS"},         {"euler", "Euler"}, {"euler_a", "Euler a"},
      {"heun", "Heun"}, {"dpmpp_2m", "DPM++ 2M"}, {"lcm", "LCM"},     {"unipc", "UniPC"}};
  std::vector<std::string> names;
  for (const auto& [name, display] : expected) {
    EXPECT_EQ(sampler_display_name(name), display) << name;
    names.push_back(name);
  }
  EXPECT_EQ(sampler_names(), names);
  // What a display name reads back as is the same sampler.
  for (const std::string& name : sampler_names()) EXPECT_EQ(resolve_sampler(sampler_display_name(name)).sampler, name);
  EXPECT_EQ(sampler_aliases("euler_a"), (std::vector<std::string>{"euler_a", "k_euler_a", "k_euler_ancestral"}));
  EXPECT_EQ(sampler_aliases("dpmpp_2m"), (std::vector<std::string>{"dpmpp_2m", "dpm++2m", "k_dpmpp_2m"}));
}

// The message lists each implemented sampler with its other names.
void expect_refused(const std::string& name, const std::string& says) {
  try {
    resolve_sampler(name);
    ADD_FAILURE() << "'" << name << "' was accepted";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(says), std::string::npos) << message;
    EXPECT_NE(message.find("implemented: ddim (sd.cpp ddim_trailing = ddim with trailing spacing), pndm (A1111 PLMS), "
                           "euler, euler_a (A1111 Euler a), heun, dpmpp_2m (A1111 DPM++ 2M; sd.cpp dpm++2m), lcm, unipc"),
              std::string::npos)
        << message;
  }
}

TEST(SamplerNames, OthersAreRefusedWithTheImplementedOnes) {
  // Every other name of sd.cpp's sample_method_to_str, and A1111 samplers diffuse lacks.
  for (const char* name : {"dpm2", "dpm++2s_a", "dpm++2mv2", "ipndm", "ipndm_v", "tcd", "res_multistep", "res_2s",
                           "er_sde", "euler_cfg_pp", "dpm++2m_sde", "dpm++2m_sde_bt", "lms", "DPM++ 3M SDE",
                           "DPM++ SDE Karras", "Restart", "k_dpm_2_a"})
    expect_refused(name, "sampler '" + std::string(name) + "' is not implemented in diffuse");
  for (const char* name : {"warp_drive", "", "k_", "Euler a Karras x", "euler_a_ka", "dpmpp_2m "})
    expect_refused(name, "unknown sampler '" + std::string(name) + "'");
}

TEST(SchedulerNames, ImplementedOnesAndTheRest) {
  for (const char* name : {"default", "discrete", "normal", "Automatic", "DISCRETE"})
    EXPECT_EQ(resolve_scheduler(name), SigmaSchedule::Default) << name;
  for (const char* name : {"karras", "Karras"}) EXPECT_EQ(resolve_scheduler(name), SigmaSchedule::Karras) << name;
  EXPECT_EQ(implemented_schedulers(), "default (A1111 Automatic; sd.cpp discrete, normal), karras");
  // sd.cpp's scheduler_to_str and A1111's labels that diffuse has no schedule for.
  for (const char* name : {"exponential", "ays", "gits", "sgm_uniform", "simple", "smoothstep", "kl_optimal", "lcm",
                           "beta", "bong_tangent", "Align Your Steps", "SGM Uniform", "Polyexponential", "Uniform"}) {
    try {
      resolve_scheduler(name);
      ADD_FAILURE() << "'" << name << "' was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("is not implemented in diffuse; implemented: default"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(resolve_scheduler("karras "), Error);
}

}  // namespace
}  // namespace diffuse
