#pragma once
// Parsing of the human units used in the config: durations (`250ms`, `2s`, `1m`, `1h`) and
// sizes (`512`, `16k`, `1m`, `1g`, binary multiples). Strict: no spaces, no signs, no overflow.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sluice::core {

using Millis = std::chrono::milliseconds;

std::optional<Millis> parse_duration(std::string_view text);
std::optional<uint64_t> parse_size(std::string_view text);

}  // namespace sluice::core
