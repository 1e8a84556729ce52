#include "l7/access_log.h"

#include <limits.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/log.h"

namespace sluice::l7 {
namespace {

void append_json_string(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20 || u >= 0x7f) {
      fmt::format_to(std::back_inserter(*out), "\\u{:04x}", u);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

}  // namespace

void AccessLog::write(const AccessEntry& e) {
  if (fd_ < 0) return;
  char ts[32];
  size_t ts_len = core::format_utc_now(ts);
  line_.clear();
  auto out = std::back_inserter(line_);
  if (json_) {
    line_.append("{\"time\":\"").append(ts, ts_len).append("\",\"client\":");
    append_json_string(&line_, e.client);
    line_.append(",\"method\":");
    append_json_string(&line_, e.method);
    line_.append(",\"path\":");
    append_json_string(&line_, e.path);
    fmt::format_to(out, ",\"status\":{},\"bytes\":{},\"upstream\":", e.status, e.bytes);
    append_json_string(&line_, e.upstream);
    line_.append(",\"route\":");
    append_json_string(&line_, e.route);
    fmt::format_to(out, ",\"duration_ms\":{:.3f}}}\n", static_cast<double>(e.duration_us) / 1000.0);
  } else {
    line_.append(ts, ts_len);
    fmt::format_to(out, " {} \"{} {}\" {} {} {} {} {:.3f}ms\n", e.client, e.method, e.path,
                   e.status, e.bytes, e.upstream.empty() ? "-" : e.upstream,
                   e.route.empty() ? "-" : e.route, static_cast<double>(e.duration_us) / 1000.0);
  }
  write_line(line_);  // line_ is reused only when truncating, which copies first
}

void AccessLog::write_line(std::string_view line) {
  if (fd_ < 0) return;
  if (line.size() > PIPE_BUF) {
    std::string cut(line.substr(0, PIPE_BUF - 4));
    cut.append("...\n");  // a truncated line is marked, never silently cut
    if (buf_.size() + cut.size() > PIPE_BUF) flush();
    buf_.append(cut);
    return;
  }
  if (buf_.size() + line.size() > PIPE_BUF) flush();
  buf_.append(line);
}

void AccessLog::flush() {
  if (buf_.empty() || fd_ < 0) return;
  ssize_t n = ::write(fd_, buf_.data(), buf_.size());
  (void)n;  // a full or closed log must not stop traffic
  buf_.clear();
}

}  // namespace sluice::l7
