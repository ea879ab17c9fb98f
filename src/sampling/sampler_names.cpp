#include "sampling/sampler_names.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>

#include "core/error.h"

namespace diffuse {
namespace {

// One row per sampler. Sources: stable-diffusion.cpp's sample_method_to_str and its server's
// A1111 name map (examples/server/routes_sdapi.cpp); A1111's modules/sd_samplers_kdiffusion.py,
// sd_samplers_timesteps.py and sd_samplers_lcm.py (display name, then the k-diffusion ids).
struct SamplerRow {
  const char* name;   // diffuse's name: what GenerateOptions.sampler holds
  const char* a1111;  // A1111's display name, "" where A1111 has none
  const char* sdcpp;  // sd.cpp's --sampling-method, "" where sd.cpp has none
  const char* aliases;  // A1111's k-diffusion ids, space-separated, "" where none
  std::optional<SamplerKind> kind;  // none: known, not implemented by diffuse
};

constexpr std::array<SamplerRow, 28> kSamplers{{
    // Implemented: diffusers 0.27.2's schedulers (sampling/schedule.h).
    {"ddim", "DDIM", "ddim_trailing", "", SamplerKind::Ddim},  // sd.cpp's name: with trailing spacing
    {"pndm", "PLMS", "", "plms", SamplerKind::Pndm},
    {"euler", "Euler", "euler", "k_euler", SamplerKind::Euler},
    {"euler_a", "Euler a", "euler_a", "k_euler_a k_euler_ancestral", SamplerKind::EulerAncestral},
    {"heun", "Heun", "heun", "k_heun", SamplerKind::Heun},
    {"dpmpp_2m", "DPM++ 2M", "dpm++2m", "k_dpmpp_2m", SamplerKind::DpmPP2M},
    {"lcm", "LCM", "lcm", "k_lcm", SamplerKind::Lcm},
    {"unipc", "UniPC", "", "", SamplerKind::UniPC},
    // Known to sd.cpp or A1111, not implemented here.
    {"dpm2", "DPM2", "dpm2", "k_dpm_2", std::nullopt},
    {"dpm2_a", "DPM2 a", "", "k_dpm_2_a", std::nullopt},
    {"dpmpp_2s_a", "DPM++ 2S a", "dpm++2s_a", "k_dpmpp_2s_a", std::nullopt},
    {"dpmpp_2m_v2", "", "dpm++2mv2", "", std::nullopt},
    {"dpmpp_2m_sde", "DPM++ 2M SDE", "dpm++2m_sde", "k_dpmpp_2m_sde", std::nullopt},
    {"dpmpp_2m_sde_bt", "", "dpm++2m_sde_bt", "", std::nullopt},
    {"dpmpp_2m_sde_heun", "DPM++ 2M SDE Heun", "", "k_dpmpp_2m_sde_heun", std::nullopt},
    {"dpmpp_sde", "DPM++ SDE", "", "k_dpmpp_sde", std::nullopt},
    {"dpmpp_3m_sde", "DPM++ 3M SDE", "", "k_dpmpp_3m_sde", std::nullopt},
    {"dpm_fast", "DPM fast", "", "k_dpm_fast", std::nullopt},
    {"dpm_adaptive", "DPM adaptive", "", "k_dpm_ad", std::nullopt},
    {"lms", "LMS", "lms", "k_lms", std::nullopt},
    {"restart", "Restart", "", "restart", std::nullopt},
    {"ipndm", "", "ipndm", "", std::nullopt},
    {"ipndm_v", "", "ipndm_v", "", std::nullopt},
    {"tcd", "", "tcd", "", std::nullopt},
    {"res_multistep", "", "res_multistep", "", std::nullopt},
    {"res_2s", "", "res_2s", "", std::nullopt},
    {"er_sde", "", "er_sde", "", std::nullopt},
    {"euler_cfg_pp", "", "euler_cfg_pp", "", std::nullopt},
}};

// sd.cpp's scheduler_to_str (alias "normal" = discrete) and A1111's modules/sd_schedulers.py labels.
struct SchedulerRow {
  const char* name;   // diffuse's name
  const char* a1111;  // A1111's label
  const char* sdcpp;  // sd.cpp's --scheduler
  std::optional<SigmaSchedule> schedule;  // none: known, not implemented
};

constexpr std::array<SchedulerRow, 14> kSchedulers{{
    // Each sampler's own timesteps, as diffusers' scheduler class makes them.
    {"default", "Automatic", "discrete", SigmaSchedule::Default},
    {"karras", "Karras", "karras", SigmaSchedule::Karras},
    {"exponential", "Exponential", "exponential", std::nullopt},
    {"polyexponential", "Polyexponential", "", std::nullopt},
    {"ays", "Align Your Steps", "ays", std::nullopt},
    {"gits", "", "gits", std::nullopt},
    {"sgm_uniform", "SGM Uniform", "sgm_uniform", std::nullopt},
    {"simple", "Simple", "simple", std::nullopt},
    {"smoothstep", "", "smoothstep", std::nullopt},
    {"kl_optimal", "KL Optimal", "kl_optimal", std::nullopt},
    {"uniform", "Uniform", "", std::nullopt},
    {"beta", "Beta", "beta", std::nullopt},
    {"lcm", "", "lcm", std::nullopt},
    {"bong_tangent", "", "bong_tangent", std::nullopt},
}};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

bool same_name(const std::string& lowered, const char* table_name) {
  return *table_name != '\0' && lowered == lower(table_name);
}

std::vector<std::string_view> words(std::string_view space_separated) {
  std::vector<std::string_view> out;
  for (size_t begin = 0; begin < space_separated.size();) {
    const size_t end = std::min(space_separated.find(' ', begin), space_separated.size());
    out.push_back(space_separated.substr(begin, end - begin));
    begin = end + 1;
  }
  return out;
}

// "name (A1111 X; sd.cpp y)", the names equal to diffuse's left out.
std::string described(const std::string& name, const std::string& a1111, const std::string& sdcpp) {
  std::string others;
  if (!a1111.empty() && lower(a1111) != name) others += "A1111 " + a1111;
  if (!sdcpp.empty() && sdcpp != name) others += (others.empty() ? "" : "; ") + ("sd.cpp " + sdcpp);
  return others.empty() ? name : name + " (" + others + ")";
}

const SamplerRow& implemented_row(const std::string& name) {
  for (const SamplerRow& row : kSamplers)
    if (row.kind && name == row.name) return row;
  std::string names;
  for (const std::string& known : sampler_names()) names += (names.empty() ? "" : ", ") + known;
  throw Error("unknown sampler '" + name + "'; diffuse's names: " + names);
}

const SamplerRow* find_sampler_row(const std::string& lowered) {
  for (const SamplerRow& row : kSamplers) {
    const std::vector<std::string_view> ids = words(row.aliases);
    if (same_name(lowered, row.name) || same_name(lowered, row.a1111) || same_name(lowered, row.sdcpp) ||
        std::ranges::find(ids, lowered) != ids.end())
      return &row;
  }
  return nullptr;
}

}  // namespace

SamplerChoice resolve_sampler(const std::string& name) {
  const std::string key = lower(name);
  const SamplerRow* row = find_sampler_row(key);
  // A1111 before 1.9 named the schedule with the sampler: "DPM++ 2M Karras", "k_dpmpp_2m_ka".
  const bool karras_suffix = key.ends_with(" karras") || (key.starts_with("k_") && key.ends_with("_ka"));
  const bool karras = !row && karras_suffix;
  if (karras) row = find_sampler_row(key.substr(0, key.size() - (key.ends_with("_ka") ? 3 : 7)));
  if (!row) throw Error("unknown sampler '" + name + "'; implemented: " + implemented_samplers());
  if (!row->kind)
    throw Error("sampler '" + name + "' is not implemented in diffuse; implemented: " + implemented_samplers());
  SamplerChoice choice{row->name, karras, std::nullopt};
  if (key == "ddim_trailing") choice.timestep_spacing = "trailing";  // sd.cpp's DDIM, on trailing timesteps
  return choice;
}

SigmaSchedule resolve_scheduler(const std::string& name) {
  const std::string key = lower(name);
  for (const SchedulerRow& row : kSchedulers) {
    const bool normal = row.schedule == SigmaSchedule::Default && key == "normal";  // sd.cpp's alias of discrete
    if (!normal && !same_name(key, row.name) && !same_name(key, row.a1111) && !same_name(key, row.sdcpp)) continue;
    if (!row.schedule)
      throw Error("scheduler '" + name + "' is not implemented in diffuse; implemented: " + implemented_schedulers());
    return *row.schedule;
  }
  throw Error("unknown scheduler '" + name + "'; implemented: " + implemented_schedulers());
}

const std::vector<std::string>& sampler_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const SamplerRow& row : kSamplers)
      if (row.kind) v.push_back(row.name);
    return v;
  }();
  return names;
}

std::string implemented_samplers() {
  std::string text;
  for (const SamplerRow& row : kSamplers) {
    if (!row.kind) continue;
    const std::string sdcpp = row.kind == SamplerKind::Ddim ? std::string(row.sdcpp) + " = ddim with trailing spacing" : row.sdcpp;
    text += (text.empty() ? "" : ", ") + described(row.name, row.a1111, sdcpp);
  }
  return text;
}

std::string implemented_schedulers() {
  std::string text;
  for (const SchedulerRow& row : kSchedulers) {
    if (!row.schedule) continue;
    const std::string sdcpp = row.schedule == SigmaSchedule::Default ? std::string(row.sdcpp) + ", normal" : row.sdcpp;
    text += (text.empty() ? "" : ", ") + described(row.name, row.a1111, sdcpp);
  }
  return text;
}

std::string sampler_display_name(const std::string& name) { return implemented_row(name).a1111; }

std::vector<std::string> sampler_aliases(const std::string& name) {
  const SamplerRow& row = implemented_row(name);
  std::vector<std::string> aliases{row.name};
  if (*row.sdcpp && row.sdcpp != aliases[0]) aliases.push_back(row.sdcpp);
  for (const std::string_view id : words(row.aliases)) aliases.emplace_back(id);
  return aliases;
}

SamplerKind sampler_kind(const std::string& name) { return *implemented_row(name).kind; }

bool sampler_supports_karras(const std::string& name) {
  const SamplerKind kind = sampler_kind(name);
  return kind == SamplerKind::Euler || kind == SamplerKind::Heun || kind == SamplerKind::DpmPP2M || kind == SamplerKind::UniPC;
}

}  // namespace diffuse
