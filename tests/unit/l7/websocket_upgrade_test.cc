// RFC 6455 4.1: which requests are WebSocket handshakes forwarded with their Upgrade.
#include "l7/websocket_upgrade.h"

#include <gtest/gtest.h>

#include "http/request_parser.h"
#include "http/response_parser.h"

namespace sluice::l7 {
namespace {

bool upgrade(std::string_view head) {
  http::RequestParser parser({8192, 65536, 100});
  http::RequestHead req;
  auto r = parser.parse(head, &req);
  EXPECT_TRUE(r.ok()) << head;
  return is_websocket_upgrade(req);
}

TEST(WebsocketUpgrade, OnlyABodylessHttp11GetWithBothFields) {
  EXPECT_TRUE(
      upgrade("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"));
  EXPECT_TRUE(
      upgrade("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, upgrade\r\n"
              "Upgrade: foo, WebSocket\r\n\r\n"));
  EXPECT_FALSE(upgrade("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n"));  // no token
  EXPECT_FALSE(upgrade("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n"));
  EXPECT_FALSE(
      upgrade("POST /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n"
              "Content-Length: 1\r\n\r\nx"));
  EXPECT_FALSE(
      upgrade("GET /ws HTTP/1.0\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"));
}

TEST(WebsocketUpgrade, TheSwitchNamesWebsocket) {
  http::ResponseParser parser(8192, 100);
  http::ResponseHead resp;
  ASSERT_TRUE(parser
                  .parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         "Connection: upgrade\r\n\r\n",
                         "GET", &resp)
                  .ok());
  EXPECT_TRUE(is_websocket_switch(resp));
  parser.reset();
  ASSERT_TRUE(parser
                  .parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n"
                         "Connection: upgrade\r\n\r\n",
                         "GET", &resp)
                  .ok());
  EXPECT_FALSE(is_websocket_switch(resp));
}

TEST(ListHasToken, ElementsIgnoringCaseAndSpace) {
  EXPECT_TRUE(http::list_has_token("trailers", "trailers"));
  EXPECT_FALSE(http::list_has_token("deflate, trailers;q=1", "trailers"));  // no weight on it
  EXPECT_TRUE(http::list_has_token("gzip,\tTRAILERS ", "trailers"));
  EXPECT_FALSE(http::list_has_token("trailersx", "trailers"));
  EXPECT_FALSE(http::list_has_token("", "trailers"));
}

}  // namespace
}  // namespace sluice::l7
