#include "core/units.h"

#include <charconv>

namespace sluice::core {
namespace {

// Splits "123abc" into 123 and "abc"; rejects empty numbers and overflow.
std::optional<std::pair<uint64_t, std::string_view>> split_number(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data()) return std::nullopt;
  return std::pair{value, text.substr(end - text.data())};
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

}  // namespace

std::optional<Millis> parse_duration(std::string_view text) {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  auto [value, unit] = *parts;
  uint64_t factor = 0;
  if (unit == "ms") {
    factor = 1;
  } else if (unit == "s") {
    factor = 1000;
  } else if (unit == "m") {
    factor = 60'000;
  } else if (unit == "h") {
    factor = 3'600'000;
  } else {
    return std::nullopt;  // a bare number is ambiguous (seconds? ms?), so it is an error
  }
  uint64_t ms = 0;
  if (mul_overflows(value, factor, &ms) || ms > (uint64_t{1} << 62)) return std::nullopt;
  return Millis(static_cast<int64_t>(ms));
}

std::optional<uint64_t> parse_size(std::string_view text) {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  auto [value, unit] = *parts;
  uint64_t factor = 0;
  if (unit.empty()) {
    factor = 1;
  } else if (unit == "k" || unit == "K") {
    factor = uint64_t{1} << 10;
  } else if (unit == "m" || unit == "M") {
    factor = uint64_t{1} << 20;
  } else if (unit == "g" || unit == "G") {
    factor = uint64_t{1} << 30;
  } else {
    return std::nullopt;
  }
  uint64_t bytes = 0;
  if (mul_overflows(value, factor, &bytes)) return std::nullopt;
  return bytes;
}

}  // namespace sluice::core
