#include "http/response_parser.h"

#include <gtest/gtest.h>

namespace sluice::http {
namespace {

ParseResult parse(std::string_view raw, ResponseHead* head, std::string_view method = "GET") {
  ResponseParser p(64 * 1024, 100);
  return p.parse(raw, method, head);
}

TEST(ResponseParser, ContentLengthAndReason) {
  ResponseHead h;
  auto r = parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", &h);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.reason, "OK");
  EXPECT_EQ(h.framing.body, BodyKind::kContentLength);
  EXPECT_EQ(r.consumed, 38u);
}

TEST(ResponseParser, Rfc9112_6_3_BodyRules) {
  ResponseHead h;
  ASSERT_TRUE(parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", &h, "HEAD").ok());
  EXPECT_EQ(h.framing.body, BodyKind::kNone);
  EXPECT_TRUE(h.framing.has_content_length);
  ASSERT_TRUE(parse("HTTP/1.1 204 No Content\r\n\r\n", &h).ok());
  EXPECT_EQ(h.framing.body, BodyKind::kNone);
  ASSERT_TRUE(parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", &h).ok());
  EXPECT_EQ(h.framing.body, BodyKind::kNone);
  ASSERT_TRUE(parse("HTTP/1.1 200 OK\r\n\r\n", &h).ok());
  EXPECT_EQ(h.framing.body, BodyKind::kUntilClose);
  EXPECT_FALSE(h.framing.keep_alive);
  ASSERT_TRUE(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", &h).ok());
  EXPECT_EQ(h.framing.body, BodyKind::kChunked);
  ASSERT_TRUE(parse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", &h).ok());  // empty reason
}

TEST(ResponseParser, AmbiguousResponsesAre502) {
  ResponseHead h;
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", &h)
                .status,
            502);
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", &h).status,
            502);
  EXPECT_EQ(parse("HTTP/1.1 2000 OK\r\n\r\n", &h).status, 502);
  EXPECT_EQ(parse("HTTP/1.1 099 Low\r\n\r\n", &h).status, 502);
  EXPECT_EQ(parse("HTTP/2.0 200 OK\r\n\r\n", &h).status, 502);
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nX : y\r\n\r\n", &h).status, 502);
}

}  // namespace
}  // namespace sluice::http
