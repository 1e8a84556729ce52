#pragma once
// Enums that config spells as words: one table of {value, name} per enum, parsed once when the
// config is read (everything after that compares values, not strings) and printed back in
// errors, /config and logs from the same table.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::core {

template <typename E>
struct EnumName {
  E value;
  std::string_view name;
};

template <typename E, size_t N>
constexpr std::optional<E> parse_enum(const EnumName<E> (&table)[N], std::string_view text) {
  for (const auto& e : table) {
    if (e.name == text) return e.value;
  }
  return std::nullopt;
}

template <typename E, size_t N>
constexpr std::string_view enum_name(const EnumName<E> (&table)[N], E value) {
  for (const auto& e : table) {
    if (e.value == value) return e.name;
  }
  return "?";
}

// "a, b, c" for an error message that lists what is accepted.
template <typename E, size_t N>
std::string enum_list(const EnumName<E> (&table)[N]) {
  std::string out;
  for (const auto& e : table) {
    if (!out.empty()) out += ", ";
    out += e.name;
  }
  return out;
}

}  // namespace sluice::core
