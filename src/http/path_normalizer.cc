#include "http/path_normalizer.h"

#include "http/grammar.h"

namespace sluice::http {

void normalize_path(std::string_view path, std::string* out) {
  out->clear();
  out->reserve(path.size() + 1);
  // Pass 1: decode unreserved percent-encodings, merge slashes, and handle each segment as it
  // completes, so dot-segments (also ones that were encoded) are removed in the same pass.
  std::string& o = *out;
  size_t segment_start = 0;  // index in `o` just after the last '/'
  auto finish_segment = [&](bool at_end) {
    std::string_view seg(o.data() + segment_start, o.size() - segment_start);
    if (seg == ".") {
      o.resize(segment_start);
    } else if (seg == "..") {
      o.resize(segment_start);  // drop ".."
      if (segment_start > 1) {
        // drop the previous segment, keep its leading '/'
        size_t prev = o.rfind('/', segment_start - 2);
        o.resize(prev + 1);
      }
    } else {
      if (!at_end) o.push_back('/');
      segment_start = o.size();
      return;
    }
    segment_start = o.size();
  };
  o.push_back('/');
  segment_start = 1;
  size_t i = (!path.empty() && path[0] == '/') ? 1 : 0;
  for (; i < path.size(); ++i) {
    char c = path[i];
    if (c == '%' && i + 2 < path.size()) {
      int hi = hex_value(path[i + 1]);
      int lo = hex_value(path[i + 2]);
      if (hi >= 0 && lo >= 0) {
        char decoded = static_cast<char>(hi * 16 + lo);
        if (kUnreserved[static_cast<uint8_t>(decoded)]) {
          o.push_back(decoded);
        } else {
          static constexpr char kHex[] = "0123456789ABCDEF";
          o.push_back('%');
          o.push_back(kHex[hi]);
          o.push_back(kHex[lo]);
        }
        i += 2;
        continue;
      }
    }
    if (c == '/') {
      if (o.size() == segment_start) continue;  // merge "//"
      finish_segment(false);
      continue;
    }
    o.push_back(c);
  }
  if (o.size() > segment_start) finish_segment(true);
  if (o.empty()) o.push_back('/');
}

}  // namespace sluice::http
