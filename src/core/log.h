#pragma once
// Operational log lines to stderr: "2026-11-27T02:30:00.123Z level message". Not for the hot path
// (that is the access log, which buffers per worker).
#include <fmt/format.h>

#include <string_view>

namespace sluice::core {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

void set_log_level(LogLevel level);
void log_line(LogLevel level, std::string_view message);
// ISO-8601 UTC with milliseconds, written into `out` (at least 25 bytes); returns its length.
size_t format_utc_now(char* out);

template <typename... Args>
void log_info(fmt::format_string<Args...> f, Args&&... args) {
  log_line(LogLevel::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void log_warn(fmt::format_string<Args...> f, Args&&... args) {
  log_line(LogLevel::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void log_error(fmt::format_string<Args...> f, Args&&... args) {
  log_line(LogLevel::kError, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace sluice::core
