#include "tls/client_hello.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

namespace sluice::tls {
namespace {

std::string be16(size_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }

// A minimal ClientHello with the given extensions, in one record (or split into records of at
// most `record_size` bytes).
std::string client_hello(const std::string& extensions, size_t record_size = 16384) {
  std::string body = "\x03\x03" + std::string(32, 'r') + std::string("\x00", 1) + be16(2) +
                     std::string("\x13\x01", 2) + std::string("\x01\x00", 2);
  if (!extensions.empty()) body += be16(extensions.size()) + extensions;
  std::string hs = std::string("\x01", 1) + std::string(1, '\0') + be16(body.size()) + body;
  std::string out;
  for (size_t pos = 0; pos < hs.size(); pos += record_size) {
    auto part = hs.substr(pos, record_size);
    out += std::string("\x16\x03\x01", 3) + be16(part.size()) + part;
  }
  return out;
}

std::string sni_ext(const std::string& name) {
  std::string entry = std::string("\x00", 1) + be16(name.size()) + name;
  std::string list = be16(entry.size()) + entry;
  return std::string("\x00\x00", 2) + be16(list.size()) + list;
}

std::string alpn_ext(std::initializer_list<std::string> protos) {
  std::string list;
  for (const auto& p : protos) list += std::string(1, static_cast<char>(p.size())) + p;
  std::string body = be16(list.size()) + list;
  return std::string("\x00\x10", 2) + be16(body.size()) + body;
}

TEST(ClientHello, SniAndAlpn) {
  auto r =
      parse_client_hello(client_hello(sni_ext("Api.Example.COM") + alpn_ext({"h2", "http/1.1"})));
  ASSERT_EQ(r.state, ClientHelloResult::State::kDone) << r.error;
  EXPECT_EQ(r.info.sni, "api.example.com");
  EXPECT_EQ(r.info.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
}

TEST(ClientHello, SplitOverRecordsAndSegments) {
  auto bytes = client_hello(sni_ext("a.test"), 20);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(parse_client_hello(std::string_view(bytes).substr(0, n)).state,
              ClientHelloResult::State::kIncomplete)
        << n;
  }
  EXPECT_EQ(parse_client_hello(bytes).info.sni, "a.test");
}

TEST(ClientHello, NoSniIsDoneWithEmptyName) {
  auto r = parse_client_hello(client_hello(""));
  ASSERT_EQ(r.state, ClientHelloResult::State::kDone);
  EXPECT_TRUE(r.info.sni.empty());
}

TEST(ClientHello, RejectsMalformed) {
  auto bad = [](std::string bytes) {
    return parse_client_hello(bytes).state == ClientHelloResult::State::kError;
  };
  EXPECT_TRUE(bad("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_TRUE(bad(std::string("\x16\x03\x01\x00\x00", 5)));               // empty record
  EXPECT_TRUE(bad(std::string("\x16\x03\x01\x40\x01", 5)));               // record over 16 KiB
  EXPECT_TRUE(bad(client_hello(sni_ext("bad name!"))));                   // not a host name
  EXPECT_TRUE(bad(client_hello(sni_ext("a.test") + sni_ext("b.test"))));  // two SNI extensions
  auto truncated = client_hello(sni_ext("a.test"));
  truncated[truncated.size() - 3] = '\x7f';  // a length that runs past the end
  EXPECT_TRUE(bad(truncated));
  std::string server_hello = client_hello("");
  server_hello[5] = '\x02';
  EXPECT_TRUE(bad(server_hello));
}

TEST(ClientHello, RealOpensslClientHello) {
  std::ifstream in(
      std::string(SLUICE_SOURCE_DIR) + "/tests/fuzz/corpus/client_hello/openssl_sni_alpn",
      std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto r = parse_client_hello(bytes);
  ASSERT_EQ(r.state, ClientHelloResult::State::kDone) << r.error;
  EXPECT_EQ(r.info.sni, "a.test");
  EXPECT_EQ(r.info.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
}

}  // namespace
}  // namespace sluice::tls
