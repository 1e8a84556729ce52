#include "http/http1_body.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::http {
namespace {

// Feeds `in` in slices of `slice` bytes, as reads would bring it; returns the payload, or
// "ERROR: reason".
std::string decode(BodyKind kind, uint64_t length, std::string_view in, size_t slice,
                   bool close_at_end = false) {
  Http1BodyDecoder d;
  d.start(kind, length);
  std::string buffer, out;
  size_t fed = 0;
  while (!d.done()) {
    auto s = d.step(buffer);
    if (s.error) return std::string("ERROR: ") + s.reason;
    out.append(s.data);
    buffer.erase(0, s.consumed);
    if (d.done()) break;
    if (s.consumed == 0 || buffer.empty()) {
      if (fed == in.size()) {
        if (close_at_end && d.end_of_stream()) break;
        return out + " (incomplete)";
      }
      const size_t n = std::min(slice, in.size() - fed);
      buffer.append(in.substr(fed, n));
      fed += n;
    }
  }
  return out;
}

TEST(Http1BodyDecoder, ContentLengthTakesExactlyItsBytes) {
  Http1BodyDecoder d;
  d.start(BodyKind::kContentLength, 5);
  auto s = d.step("helloGET / HTTP/1.1");
  EXPECT_EQ(s.data, "hello");
  EXPECT_EQ(s.consumed, 5u);
  EXPECT_TRUE(d.done());
  EXPECT_EQ(decode(BodyKind::kContentLength, 11, "hello world", 3), "hello world");
}

TEST(Http1BodyDecoder, ChunkedIsTheSameWhateverTheSlices) {
  const std::string body = "5;name=v\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n";
  for (size_t slice : {1u, 2u, 7u, 1000u})
    EXPECT_EQ(decode(BodyKind::kChunked, 0, body, slice), "hello world") << slice;
  EXPECT_EQ(decode(BodyKind::kChunked, 0, "5\r\nhelloX\r\n", 1000).rfind("ERROR", 0), 0u);
}

TEST(Http1BodyDecoder, TrailersAreCollected) {
  Http1BodyDecoder d;
  d.start(BodyKind::kChunked, 0);
  std::string in = "0\r\ngrpc-status: 0\r\n\r\n";
  auto s = d.step(in);
  EXPECT_FALSE(s.error);
  EXPECT_TRUE(d.done());
  ASSERT_EQ(d.trailers().size(), 1u);
  EXPECT_EQ(d.trailers()[0].name, "grpc-status");
}

TEST(Http1BodyDecoder, OnlyABodyUntilTheCloseEndsWithTheStream) {
  EXPECT_EQ(decode(BodyKind::kUntilClose, 0, "all of it", 4, /*close_at_end=*/true), "all of it");
  Http1BodyDecoder d;
  d.start(BodyKind::kContentLength, 10);
  d.step("short");
  EXPECT_FALSE(d.end_of_stream());  // a cut body is an error, never a short success
  d.start(BodyKind::kNone, 0);
  EXPECT_TRUE(d.done());
}

}  // namespace
}  // namespace sluice::http
