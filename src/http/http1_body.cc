#include "http/http1_body.h"

#include <algorithm>

namespace sluice::http {

void Http1BodyDecoder::start(BodyKind kind, uint64_t content_length) {
  kind_ = kind;
  remaining_ = kind == BodyKind::kContentLength ? content_length : 0;
  done_ = kind == BodyKind::kNone || (kind == BodyKind::kContentLength && content_length == 0);
  if (kind == BodyKind::kChunked) chunked_.reset();
}

Http1BodyDecoder::Step Http1BodyDecoder::step(std::string_view in) {
  Step s;
  if (done_ || in.empty()) return s;
  switch (kind_) {
    case BodyKind::kNone:
      return s;
    case BodyKind::kContentLength: {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(in.size(), remaining_));
      s.consumed = n;
      s.data = in.substr(0, n);
      remaining_ -= n;
      done_ = remaining_ == 0;
      return s;
    }
    case BodyKind::kUntilClose:
      s.consumed = in.size();
      s.data = in;
      return s;
    case BodyKind::kChunked:
      break;
  }
  const auto c = chunked_.step(in);
  s.consumed = c.consumed;
  s.data = c.data;
  s.error = c.error;
  s.reason = c.reason;
  done_ = c.done;
  return s;
}

bool Http1BodyDecoder::end_of_stream() {
  if (kind_ == BodyKind::kUntilClose) done_ = true;
  return done_;
}

}  // namespace sluice::http
