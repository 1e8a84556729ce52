#pragma once
// Per-worker access log: one line per request, buffered and written with one write(2) of whole
// lines at most PIPE_BUF long, so lines from different workers never interleave, even on a pipe.
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::l7 {

struct AccessEntry {
  std::string_view client;  // "ip:port"
  std::string_view method;
  std::string_view path;  // as forwarded (normalised) plus query
  int status = 0;
  uint64_t bytes = 0;         // response body bytes sent
  std::string_view upstream;  // endpoint address or "-"
  std::string_view route;
  uint64_t duration_us = 0;
};

class AccessLog {
 public:
  // fd < 0 disables logging.
  AccessLog(int fd, bool json) : fd_(fd), json_(json) {}
  bool enabled() const { return fd_ >= 0; }
  void write(const AccessEntry& e);
  void write_line(std::string_view line);  // a whole line, '\n' included
  void flush();

 private:
  int fd_;
  bool json_;
  std::string buf_;
  std::string line_;
};

}  // namespace sluice::l7
