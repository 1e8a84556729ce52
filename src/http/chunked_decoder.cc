#include "http/chunked_decoder.h"

#include <vector>

#include "http/fields.h"
#include "http/grammar.h"

namespace sluice::http {
namespace {
constexpr int kMaxSizeDigits = 15;  // < 2^60: no overflow, and more than any body we accept
constexpr uint64_t kMaxExtBytes = 4096;
}  // namespace

ChunkedDecoder::Step ChunkedDecoder::step(std::string_view in) {
  Step s;
  auto fail = [&](const char* reason) {
    s.error = true;
    s.reason = reason;
    return s;
  };
  size_t i = 0;
  while (i < in.size()) {
    char c = in[i];
    switch (state_) {
      case State::kSize: {
        int v = hex_value(c);
        if (v >= 0) {
          if (++size_digits_ > kMaxSizeDigits) return fail("chunk size too large");
          remaining_ = remaining_ * 16 + static_cast<uint64_t>(v);
        } else if (size_digits_ == 0) {
          return fail("invalid chunk size");
        } else if (c == ';' || c == ' ' || c == '\t') {
          state_ = State::kExt;
          remaining_ext_ = kMaxExtBytes;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else {
          return fail("invalid chunk size");
        }
        ++i;
        break;
      }
      case State::kExt:
        // chunk-ext is parsed loosely but bounded; it is dropped, never forwarded.
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == '\n' || (!is_field_value_char(c)) || --remaining_ext_ == 0) {
          return fail("invalid chunk extension");
        }
        ++i;
        break;
      case State::kSizeLf:
        if (c != '\n') return fail("bare CR after chunk size");
        ++i;
        size_digits_ = 0;
        if (remaining_ == 0) {
          state_ = State::kTrailer;
        } else {
          state_ = State::kData;
          s.consumed = i;
          return s;  // framing consumed; the next call yields data from the start of its input
        }
        break;
      case State::kData: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size() - i));
        s.data = in.substr(i, n);
        remaining_ -= n;
        i += n;
        if (remaining_ == 0) state_ = State::kDataCr;
        s.consumed = i;
        return s;
      }
      case State::kDataCr:
        if (c != '\r') return fail("missing CRLF after chunk data");
        state_ = State::kDataLf;
        ++i;
        break;
      case State::kDataLf:
        if (c != '\n') return fail("missing CRLF after chunk data");
        state_ = State::kSize;
        ++i;
        break;
      case State::kTrailer: {
        if (c == '\n' && (trailers_.empty() || trailers_.back() != '\r')) {
          return fail("bare LF in trailer section");
        }
        if (trailers_.size() >= max_trailer_bytes_) return fail("trailer section too large");
        trailers_.push_back(c);
        ++i;
        bool end =
            trailers_ == "\r\n" ||
            (trailers_.size() >= 4 && trailers_.compare(trailers_.size() - 4, 4, "\r\n\r\n") == 0);
        if (end) {
          trailers_.resize(trailers_.size() - 2);  // drop the empty line
          auto& fields = trailer_fields_;
          fields.clear();
          auto r = parse_field_lines(trailers_, 100, &fields);
          if (r.is_error()) return fail("invalid trailer field");
          for (const auto& f : fields) {
            // Framing fields in trailers would be read differently by different recipients.
            if (iequals(f.name, "content-length") || iequals(f.name, "transfer-encoding") ||
                iequals(f.name, "host")) {
              return fail("forbidden trailer field");
            }
          }
          state_ = State::kDone;
          s.consumed = i;
          s.done = true;
          return s;
        }
        break;
      }
      case State::kDone:
        s.consumed = i;
        s.done = true;
        return s;
    }
  }
  s.consumed = i;
  s.done = state_ == State::kDone;
  return s;
}

size_t write_chunk_size(uint64_t size, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  char tmp[16];
  int n = 0;
  do {
    tmp[n++] = kHex[size & 0xf];
    size >>= 4;
  } while (size != 0);
  size_t len = 0;
  while (n > 0) out[len++] = tmp[--n];
  out[len++] = '\r';
  out[len++] = '\n';
  return len;
}

const char* chunked_prefix_error(std::string_view bytes) {
  ChunkedDecoder decoder;
  // Bounded by the input: each step consumes at least one byte, or stops.
  while (!bytes.empty()) {
    auto step = decoder.step(bytes);
    if (step.error) return step.reason;
    if (step.done || step.consumed == 0) return nullptr;
    bytes.remove_prefix(step.consumed);
  }
  return nullptr;
}

}  // namespace sluice::http
