#pragma once
// Incremental decoder of the chunked transfer coding (RFC 9112 7.1). Feeds on whatever bytes
// arrived, yields payload as views into the input (no copy), validates every size line and
// CRLF, bounds chunk-size digits and the trailer section, and collects the trailer fields so
// that the proxy re-encodes a canonical stream (no extensions survive).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"

namespace sluice::http {

class ChunkedDecoder {
 public:
  explicit ChunkedDecoder(uint32_t max_trailer_bytes = 16 * 1024)
      : max_trailer_bytes_(max_trailer_bytes) {}

  struct Step {
    size_t consumed = 0;    // bytes of input used by this step
    std::string_view data;  // payload bytes (a view into the input), possibly empty
    bool done = false;      // the last chunk and trailer section were read
    bool error = false;
    const char* reason = "";
  };

  // Consumes a prefix of `in`. Call again with the rest until consumed == 0 (needs more input),
  // done or error.
  Step step(std::string_view in);

  // Raw trailer field lines (each ending in CRLF), valid once done.
  const std::string& trailers() const { return trailers_; }
  // The same fields parsed (views into trailers()), valid once done.
  const std::vector<Header>& trailer_fields() const { return trailer_fields_; }
  void reset() { *this = ChunkedDecoder(max_trailer_bytes_); }

 private:
  enum class State { kSize, kExt, kSizeLf, kData, kDataCr, kDataLf, kTrailer, kDone };
  State state_ = State::kSize;
  uint64_t remaining_ = 0;
  int size_digits_ = 0;
  uint64_t remaining_ext_ = 0;
  uint32_t max_trailer_bytes_;
  std::string trailers_;
  std::vector<Header> trailer_fields_;
};

// The reason the chunked body starting at `bytes` is malformed, found before the bytes run out;
// null when they are well-formed so far. A proxy asks this of what it already holds before it
// sends anything upstream, so that a body known to be bad never reaches a backend at all.
const char* chunked_prefix_error(std::string_view bytes);

// Appends "<hex size>\r\n" to `out` (buffer of at least 20 bytes); returns bytes written.
size_t write_chunk_size(uint64_t size, char* out);

}  // namespace sluice::http
