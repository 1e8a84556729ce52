#include "packet/libbpf_log.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <string>

#include "core/log.h"

namespace sluice::packet {
namespace {

int forward(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  int n = std::vsnprintf(line, sizeof line, format, args);
  std::string text(line, n > 0 ? std::min<size_t>(static_cast<size_t>(n), sizeof line - 1) : 0);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty()) core::log_warn("libbpf: {}", text);
  return n;
}

}  // namespace

void route_libbpf_log() { libbpf_set_print(forward); }

}  // namespace sluice::packet
