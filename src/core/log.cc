#include "core/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <string>

namespace sluice::core {
namespace {
std::atomic<LogLevel> g_level{LogLevel::kInfo};
constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
}  // namespace

void set_log_level(LogLevel level) { g_level = level; }

size_t format_utc_now(char* out) {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  time_t secs = static_cast<time_t>(ms / 1000);
  tm t{};
  gmtime_r(&secs, &t);
  size_t n = strftime(out, 24, "%Y-%m-%dT%H:%M:%S", &t);
  n += static_cast<size_t>(snprintf(out + n, 6, ".%03dZ", static_cast<int>(ms % 1000)));
  return n;
}

void log_line(LogLevel level, std::string_view message) {
  if (level < g_level.load(std::memory_order_relaxed)) return;
  char ts[32];
  size_t n = format_utc_now(ts);
  std::string line;
  line.reserve(message.size() + 48);
  line.append(ts, n).append(" ").append(kNames[static_cast<int>(level)]).append(" ");
  line.append(message).push_back('\n');
  // One write per line keeps lines whole when several threads log at once.
  ssize_t ignored = write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace sluice::core
