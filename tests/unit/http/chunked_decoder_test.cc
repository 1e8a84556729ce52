// RFC 9112 7.1: chunked transfer coding.
#include "http/chunked_decoder.h"

#include <gtest/gtest.h>

namespace sluice::http {
namespace {

// Feeds `input` in pieces of `piece` bytes; returns decoded payload, or "ERROR".
std::string decode(std::string_view input, size_t piece = 1 << 20,
                   ChunkedDecoder* out_dec = nullptr) {
  ChunkedDecoder local;
  ChunkedDecoder& dec = out_dec ? *out_dec : local;
  std::string buffered;
  std::string payload;
  size_t fed = 0;
  for (int guard = 0; guard < 100000; ++guard) {
    auto step = dec.step(buffered);
    if (step.error) return "ERROR";
    payload.append(step.data);
    buffered.erase(0, step.consumed);
    if (step.done) return payload;
    if (step.consumed == 0) {
      if (fed >= input.size()) return "INCOMPLETE";
      auto more = input.substr(fed, piece);
      buffered.append(more);
      fed += more.size();
    }
  }
  return "LOOP";
}

TEST(ChunkedDecoder, DecodesWholeAndPiecewise) {
  std::string body = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";
  EXPECT_EQ(decode(body), "hello world");
  EXPECT_EQ(decode(body, 1), "hello world");
  EXPECT_EQ(decode(body, 3), "hello world");
}

TEST(ChunkedDecoder, Trailers) {
  ChunkedDecoder dec;
  EXPECT_EQ(decode("3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n", 2, &dec), "abc");
  EXPECT_EQ(dec.trailers(), "X-Sum: 1\r\n");
  dec.reset();
  EXPECT_EQ(decode("3\r\nabc\r\n0\r\nX-Sum: 1\r\nx-n:  two \r\n\r\n", 3, &dec), "abc");
  ASSERT_EQ(dec.trailer_fields().size(), 2u);  // parsed once, for an HTTP/2 peer's HEADERS
  EXPECT_EQ(dec.trailer_fields()[0].name, "X-Sum");
  EXPECT_EQ(dec.trailer_fields()[1].value, "two");
  EXPECT_EQ(decode("1\r\na\r\n0\r\nContent-Length: 5\r\n\r\n"), "ERROR");
  EXPECT_EQ(decode("1\r\na\r\n0\r\nBad Name: 5\r\n\r\n"), "ERROR");
}

TEST(ChunkedDecoder, RejectsBadFraming) {
  EXPECT_EQ(decode("g\r\n"), "ERROR");  // not hex
  EXPECT_EQ(decode("\r\n"), "ERROR");   // empty size
  EXPECT_EQ(decode("-1\r\n"), "ERROR");
  EXPECT_EQ(decode("0x5\r\nhello\r\n0\r\n\r\n"), "ERROR");
  EXPECT_EQ(decode("5\nhello\r\n0\r\n\r\n"), "ERROR");                 // bare LF after size
  EXPECT_EQ(decode("5\r\nhelloXX0\r\n\r\n"), "ERROR");                 // no CRLF after data
  EXPECT_EQ(decode("1000000000000000\r\n"), "ERROR");                  // size overflow guard
  EXPECT_EQ(decode("5;" + std::string(5000, 'a') + "\r\n"), "ERROR");  // unbounded extension
  EXPECT_EQ(decode("1\r\na\r\n0\r\nX: 1\n\r\n"), "ERROR");             // bare LF in trailers
}

TEST(ChunkedDecoder, ChunkSizeLine) {
  char buf[24];
  EXPECT_EQ(std::string(buf, write_chunk_size(0x1a2b, buf)), "1a2b\r\n");
  EXPECT_EQ(std::string(buf, write_chunk_size(0, buf)), "0\r\n");
}

}  // namespace
}  // namespace sluice::http

namespace sluice::http {
namespace {

// What a proxy holds of a body before it sends anything upstream: malformed already, or not yet.
TEST(ChunkedPrefixError, FindsErrorsInWhatIsAtHand) {
  EXPECT_EQ(chunked_prefix_error(""), nullptr);
  EXPECT_EQ(chunked_prefix_error("5\r\nhel"), nullptr);  // fine so far
  EXPECT_EQ(chunked_prefix_error("5\r\nhello\r\n0\r\n\r\n"), nullptr);
  EXPECT_EQ(chunked_prefix_error("5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), nullptr);  // next
  EXPECT_STREQ(chunked_prefix_error("zz\r\n"), "invalid chunk size");
  EXPECT_NE(chunked_prefix_error("5\r\nhelloXX\r\n"), nullptr);  // longer than declared
  EXPECT_NE(chunked_prefix_error("5\rhello\r\n"), nullptr);      // broken size line
  EXPECT_STREQ(chunked_prefix_error("fffffffffffffffffff\r\n"), "chunk size too large");
  EXPECT_NE(chunked_prefix_error("3\r\nabc\r\n2\r\nok\r\n-1\r\n"), nullptr);  // after good ones
}

}  // namespace
}  // namespace sluice::http
