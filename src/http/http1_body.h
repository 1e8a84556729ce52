#pragma once
// The body of an HTTP/1.x message as its framing delimits it (RFC 9112 6.3): a Content-Length,
// the chunked coding (decoded strictly by ChunkedDecoder: no extension survives, trailers are
// collected), or the close of the connection. Pure: it is fed the bytes at hand and says which of
// them are payload; the HTTP/1 codecs (l7/http1_server_codec, l7/http1_upstream_codec) do the
// reading and hand the payload on. One state machine for requests and responses alike.
#include <cstdint>
#include <string_view>
#include <vector>

#include "http/chunked_decoder.h"
#include "http/message.h"

namespace sluice::http {

class Http1BodyDecoder {
 public:
  // `kind` and `content_length` as the head's framing says. kNone is done at once; kUntilClose
  // is done only by the end of the stream (end_of_stream()).
  void start(BodyKind kind, uint64_t content_length);

  struct Step {
    size_t consumed = 0;    // bytes of the input used (the caller drops them once done with data)
    std::string_view data;  // payload: a view into the input, possibly empty
    bool error = false;
    const char* reason = "";
  };
  // Consumes a prefix of `in`. consumed == 0 and no error: more input is needed.
  Step step(std::string_view in);
  // The connection ended: the end of a body delimited by the close, an error for any other
  // body not yet done.
  bool end_of_stream();

  bool done() const { return done_; }
  BodyKind kind() const { return kind_; }
  uint64_t remaining() const { return remaining_; }  // of a Content-Length body
  const std::vector<Header>& trailers() const { return chunked_.trailer_fields(); }

 private:
  BodyKind kind_ = BodyKind::kNone;
  uint64_t remaining_ = 0;
  bool done_ = true;
  ChunkedDecoder chunked_;
};

}  // namespace sluice::http
