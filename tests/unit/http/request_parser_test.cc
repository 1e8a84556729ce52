// One test per rule of RFC 9112 / RFC 9110 that the request parser enforces; the section is in
// each test's name or comment. Smuggling-relevant cases are the ones with framing headers.
#include "http/request_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::http {
namespace {

struct Parsed {
  ParseResult result;
  RequestHead head;
};

Parsed parse(std::string_view raw, RequestLimits limits = {}) {
  Parsed p;
  RequestParser parser(limits);
  p.result = parser.parse(raw, &p.head);
  return p;
}

int status_of(std::string_view raw, RequestLimits limits = {}) {
  auto p = parse(raw, limits);
  if (p.result.ok()) return 0;
  if (p.result.is_error()) return p.result.status;
  return -1;  // incomplete
}

TEST(RequestParser, Rfc9110_5_5_EveryByteAtEveryPositionOfAValue) {
  // Values are scanned 16 bytes at a time: a forbidden byte must be found wherever it falls
  // (in a block or in the tail), and every allowed byte (HTAB, SP, VCHAR, obs-text) passes.
  for (int byte = 0; byte < 256; ++byte) {
    const bool allowed = byte == '\t' || (byte >= 0x20 && byte != 0x7f);
    for (size_t at = 0; at < 40; ++at) {
      std::string value(40, 'v');
      value[at] = static_cast<char>(byte);
      std::string raw = "GET / HTTP/1.1\r\nHost: a\r\nX: " + value + "\r\n\r\n";
      if (byte == '\r' || byte == '\n') continue;  // they end the line: covered elsewhere
      int status = status_of(raw);
      if (allowed) {
        EXPECT_EQ(status, 0) << "byte " << byte << " at " << at;
      } else {
        EXPECT_EQ(status, 400) << "byte " << byte << " at " << at;
      }
    }
  }
}

TEST(RequestParser, Rfc9110_5_6_2_EveryByteAtEveryPositionOfAName) {
  // Names are scanned 16 bytes at a time for letters, digits and '-', then through the token
  // table: every other token character passes wherever it falls, every non-token byte fails.
  const std::string_view token_specials = "!#$%&'*+-.^_`|~";
  for (int byte = 0; byte < 256; ++byte) {
    const char c = static_cast<char>(byte);
    if (c == ':') continue;  // it ends the name: "ab:cd: v" is name "ab", value "cd: v"
    const bool token = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       token_specials.find(c) != std::string_view::npos;
    for (size_t at = 0; at < 40; ++at) {
      std::string name(40, 'n');
      name[at] = c;
      std::string raw = "GET / HTTP/1.1\r\nHost: a\r\n" + name + ": v\r\n\r\n";
      int status = status_of(raw);
      if (token) {
        EXPECT_EQ(status, 0) << "byte " << byte << " at " << at;
      } else {
        EXPECT_EQ(status, 400) << "byte " << byte << " at " << at;
      }
    }
  }
}

// HTTP/2 heads: fields already split, checked by the same rules.
Parsed accept(std::string_view method, std::string_view target, std::string_view host,
              std::vector<Header> fields, RequestLimits limits = {}) {
  Parsed p;
  p.head.method = method;
  p.head.target = target;
  p.head.host = host;
  p.head.headers = std::move(fields);
  p.result = RequestParser(limits).accept_fields(&p.head);
  return p;
}

TEST(RequestParser, AcceptFieldsSetsIdsPathQueryAndFraming) {
  auto p = accept("POST", "/a/b?x=1", "h2.test",
                  {{"content-length", " 5 "}, {"cookie", "a=1; b=2"}, {"x-other", "v"}});
  ASSERT_TRUE(p.result.ok()) << p.result.reason;
  EXPECT_EQ(p.head.path, "/a/b");
  EXPECT_EQ(p.head.query, "x=1");
  EXPECT_EQ(p.head.headers[0].id, HeaderId::kContentLength);
  EXPECT_EQ(p.head.headers[0].value, "5");
  EXPECT_EQ(p.head.headers[1].id, HeaderId::kCookie);
  EXPECT_EQ(p.head.framing.body, BodyKind::kContentLength);
  EXPECT_EQ(p.head.framing.content_length, 5u);
  auto chunked = accept("POST", "/", "h", {{"transfer-encoding", "chunked"}});
  ASSERT_TRUE(chunked.result.ok());
  EXPECT_EQ(chunked.head.framing.body, BodyKind::kChunked);
}

TEST(RequestParser, AcceptFieldsRejectsWhatAnHttp1HeadCouldNotCarry) {
  auto status = [](const Parsed& p) { return p.result.is_error() ? p.result.status : 0; };
  EXPECT_EQ(status(accept("GET", "/", "", {})), 400);                    // no authority
  EXPECT_EQ(status(accept("GET", "/", "a b", {})), 400);                 // bad authority
  EXPECT_EQ(status(accept("GET", "/", "h", {{"host", "other"}})), 400);  // second Host
  EXPECT_EQ(status(accept("GET", "/", "h", {{"x", "a\x01b"}})), 400);    // control char
  EXPECT_EQ(status(accept("GET", "/", "h", {{"x", "a\rb"}})), 400);      // CR
  EXPECT_EQ(status(accept("GET", "/", "h", {{"x y", "v"}})), 400);       // not a token
  EXPECT_EQ(status(accept("G T", "/", "h", {})), 400);                   // method
  EXPECT_EQ(status(accept("GET", "/a b", "h", {})), 400);                // target
  EXPECT_EQ(status(accept("GET", "*", "h", {})), 400);                   // * is OPTIONS'
  EXPECT_EQ(status(accept("POST", "/", "h", {{"content-length", "1x"}})), 400);
  EXPECT_EQ(
      status(accept("POST", "/", "h", {{"content-length", "1"}, {"transfer-encoding", "chunked"}})),
      400);
  std::vector<Header> many(101, Header{"x", "v"});
  EXPECT_EQ(status(accept("GET", "/", "h", many)), 431);
  EXPECT_EQ(status(accept("GET", "/", "h", {{"x", "v"}})), 0);
}

TEST(RequestParser, SimpleGet) {
  auto p = parse("GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\nNEXT");
  ASSERT_TRUE(p.result.ok());
  EXPECT_EQ(p.result.consumed, 57u);
  EXPECT_EQ(p.head.method, "GET");
  EXPECT_EQ(p.head.path, "/a/b");
  EXPECT_EQ(p.head.query, "x=1");
  EXPECT_EQ(p.head.host, "example.com");
  EXPECT_EQ(p.head.framing.body, BodyKind::kNone);
  EXPECT_TRUE(p.head.framing.keep_alive);
  ASSERT_EQ(p.head.headers.size(), 2u);
  EXPECT_EQ(p.head.headers[1].value, "*/*");
}

TEST(RequestParser, IncompleteUntilEmptyLine) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\n"), -1);
}

TEST(RequestParser, Rfc9112_2_2_LeadingEmptyLinesIgnored) {
  EXPECT_EQ(status_of("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
}

TEST(RequestParser, Rfc9112_2_2_BareLfRejected) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\nHost: a\n\n"), 400);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"), 400);
}

TEST(RequestParser, Rfc9112_3_RequestLineSyntax) {
  EXPECT_EQ(status_of("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);  // double space
  EXPECT_EQ(status_of("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400);  // trailing space
  EXPECT_EQ(status_of("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);   // method not a token
  EXPECT_EQ(status_of("GET / HTTP/1.x\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
  EXPECT_EQ(status_of("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

TEST(RequestParser, Rfc3986_TargetCharacters) {
  EXPECT_EQ(status_of("GET /a\"b HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET /a%20b HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
}

TEST(RequestParser, Rfc9112_3_2_HostRequiredOnceIn11) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a:99x\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), 0);
  EXPECT_EQ(status_of("GET / HTTP/1.0\r\n\r\n"), 0);  // 1.0 may omit Host
}

TEST(RequestParser, Rfc9112_3_2_2_AbsoluteFormOverridesHost) {
  auto p = parse("GET http://real.example:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n");
  ASSERT_TRUE(p.result.ok());
  EXPECT_EQ(p.head.host, "real.example:8080");
  EXPECT_EQ(p.head.path, "/p");
  EXPECT_EQ(p.head.query, "q");
  EXPECT_EQ(status_of("GET http://user@h/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

TEST(RequestParser, Rfc9112_3_2_4_AsteriskOnlyForOptions) {
  EXPECT_EQ(status_of("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
  EXPECT_EQ(status_of("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
}

TEST(RequestParser, Rfc9112_5_1_NoWhitespaceBeforeColon) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello"), 400);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), 400);
}

TEST(RequestParser, Rfc9112_5_2_ObsFoldRejected) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n"), 400);
}

TEST(RequestParser, Rfc9110_5_5_ControlCharactersRejected) {
  EXPECT_EQ(status_of(std::string("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 35)), 400);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX: tab\there\r\n\r\n"), 0);
}

TEST(RequestParser, Rfc9110_5_1_InvalidFieldName) {
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n"), 400);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"), 400);
}

TEST(RequestParser, Rfc9112_6_1_ContentLengthWithTransferEncoding) {
  EXPECT_EQ(
      status_of(
          "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
      400);
  EXPECT_EQ(
      status_of(
          "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
      400);
}

TEST(RequestParser, Rfc9110_8_6_ContentLengthValues) {
  EXPECT_EQ(
      status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
      400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n"),
            400);
  // The same value twice is one value (RFC 9110 8.6), forwarded once.
  auto p = parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n");
  ASSERT_TRUE(p.result.ok());
  EXPECT_EQ(p.head.framing.content_length, 5u);
  EXPECT_EQ(p.head.framing.body, BodyKind::kContentLength);
}

TEST(RequestParser, Rfc9112_6_1_TransferCodings) {
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            501);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"), 501);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
                      "chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n"), 501);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n"), 400);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n"), 400);
  auto p = parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n");
  ASSERT_TRUE(p.result.ok());
  EXPECT_EQ(p.head.framing.body, BodyKind::kChunked);
}

TEST(RequestParser, Rfc9112_6_1_TransferEncodingInHttp10IsFaulty) {
  EXPECT_EQ(status_of("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
}

TEST(RequestParser, Rfc9112_9_3_PersistenceByVersionAndConnection) {
  EXPECT_FALSE(
      parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").head.framing.keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.0\r\n\r\n").head.framing.keep_alive);
  EXPECT_TRUE(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").head.framing.keep_alive);
  auto p = parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: x-secret, keep-alive\r\n\r\n");
  ASSERT_EQ(p.head.framing.connection_tokens.size(), 1u);
  EXPECT_EQ(p.head.framing.connection_tokens[0], "x-secret");
  auto header = [](std::string_view name) { return Header{name, "", classify_header(name)}; };
  EXPECT_TRUE(is_hop_by_hop(header("X-Secret"), p.head.framing));
  EXPECT_TRUE(is_hop_by_hop(header("Keep-Alive"), p.head.framing));
  EXPECT_TRUE(is_hop_by_hop(header("TE"), p.head.framing));
  EXPECT_FALSE(is_hop_by_hop(header("Accept"), p.head.framing));
}

TEST(Headers, ClassifiedOnceCaseInsensitively) {
  EXPECT_EQ(classify_header("CONTENT-length"), HeaderId::kContentLength);
  EXPECT_EQ(classify_header("Transfer-Encoding"), HeaderId::kTransferEncoding);
  EXPECT_EQ(classify_header("x-forwarded-for"), HeaderId::kXForwardedFor);
  EXPECT_EQ(classify_header("Content-Lengthx"), HeaderId::kOther);
  EXPECT_EQ(classify_header("Host"), HeaderId::kHost);
  auto p = parse("GET / HTTP/1.1\r\nhOsT: a\r\nCookie: c=1\r\n\r\n");
  ASSERT_TRUE(p.result.ok());
  EXPECT_EQ(p.head.headers[0].id, HeaderId::kHost);
  EXPECT_EQ(p.head.headers[1].id, HeaderId::kCookie);
}

TEST(RequestParser, Rfc9110_10_1_1_Expect) {
  EXPECT_TRUE(
      parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n")
          .head.framing.expect_continue);
  EXPECT_EQ(status_of("POST / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n"), 417);
}

TEST(RequestParser, Limits) {
  RequestLimits small{64, 256, 3};
  EXPECT_EQ(status_of("GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", small),
            414);
  EXPECT_EQ(status_of("GET /" + std::string(100, 'a'), small), 414);  // even before the line ends
  EXPECT_EQ(
      status_of("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(300, 'b') + "\r\n\r\n", small),
      431);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", small), 431);
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", small), 0);
}

TEST(RequestParser, ConnectIsNotSupported) {
  EXPECT_EQ(status_of("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"), 405);
}

TEST(RequestParser, ParsesIncrementallyByteByByte) {
  std::string raw = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
  RequestParser parser({});
  RequestHead head;
  ParseResult r;
  for (size_t n = 1; n <= raw.size(); ++n) {
    r = parser.parse(std::string_view(raw).substr(0, n), &head);
    if (r.ok()) break;
    ASSERT_FALSE(r.is_error()) << n;
  }
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.consumed, raw.size() - 3);
  EXPECT_EQ(head.framing.content_length, 3u);
}

}  // namespace
}  // namespace sluice::http
