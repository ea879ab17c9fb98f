#pragma once
// Every name a sampler or a noise schedule goes by, in one table: diffuse's own (diffusers'
// scheduler classes), stable-diffusion.cpp's (its --sampling-method and --scheduler values) and
// AUTOMATIC1111's (the display names its PNG "parameters", its API and civitai pages use, and
// their k-diffusion ids). The CLI, the server and the PNG metadata all read names through it,
// so a script written for sd.cpp, a request written for A1111 and a PNG read back agree.
// Names the table knows but diffuse does not implement are refused with the list of those it does.
#include <optional>
#include <string>
#include <vector>

namespace diffuse {

enum class SamplerKind { Ddim, Pndm, Euler, EulerAncestral, Heun, DpmPP2M, Lcm, UniPC };

// What a sampler name selects.
struct SamplerChoice {
  std::string sampler{};  // diffuse's name, e.g. "dpmpp_2m"
  bool karras = false;  // the name carries the schedule: A1111's "DPM++ 2M Karras", "k_dpmpp_2m_ka"
  std::optional<std::string> timestep_spacing{};  // the name carries a spacing: sd.cpp's ddim_trailing
  bool operator==(const SamplerChoice&) const = default;
};

// Any name of the table, case-insensitively. Throws Error for a name of a sampler diffuse does not
// implement and for an unknown name, listing the implemented samplers with their other names.
SamplerChoice resolve_sampler(const std::string& name);

// Karras et al. (2022) sigmas or the sampler's own (diffusers' default for its class).
enum class SigmaSchedule { Default, Karras };
// diffuse's "default"/"karras", sd.cpp's "discrete" (alias "normal"), "karras", ..., A1111's
// "Automatic", "Karras", ...; Error as resolve_sampler for the others.
SigmaSchedule resolve_scheduler(const std::string& name);

// diffuse's names of the implemented samplers, in the table's order.
const std::vector<std::string>& sampler_names();
// The implemented samplers and schedules with their other names, for --help and errors:
// "ddim (A1111 DDIM; sd.cpp ddim_trailing = ddim with trailing spacing), pndm (A1111 PLMS), ...".
std::string implemented_samplers();
std::string implemented_schedulers();
// A1111's display name of an implemented sampler ("Euler a", "DPM++ 2M"), for PNG metadata and
// the API; Karras is written separately, as "Schedule type: Karras". Error for other names.
std::string sampler_display_name(const std::string& name);
// Further names clients may know the sampler by (sd.cpp's, A1111's k-diffusion id), for the API's list.
std::vector<std::string> sampler_aliases(const std::string& name);
SamplerKind sampler_kind(const std::string& name);
// Whether diffusers 0.27.2 offers the sampler Karras sigmas (use_karras_sigmas): euler, heun,
// dpmpp_2m and unipc.
bool sampler_supports_karras(const std::string& name);

}  // namespace diffuse
