// The HTTP/1.1 form of a neutral request head (RFC 9112 3, 6).
#include "http/http1_writer.h"

#include <gtest/gtest.h>

namespace sluice::http {
namespace {

TEST(Http1Writer, RequestLineHostFieldsAndFramingFromTheBodyFacts) {
  Request req;
  req.method = "POST";
  req.authority = "a.example:8080";
  req.path = "/orders";
  req.query = "id=7";
  req.headers.add("Accept", "*/*");
  req.body = BodyLength::known(12);
  std::string out;
  write_request_head(req, &out);
  EXPECT_EQ(out,
            "POST /orders?id=7 HTTP/1.1\r\nHost: a.example:8080\r\nAccept: */*\r\n"
            "Content-Length: 12\r\n\r\n");
  req.body = BodyLength::until_end();  // an HTTP/2 body without content-length, say
  req.query = {};
  out.clear();
  write_request_head(req, &out);
  EXPECT_EQ(out,
            "POST /orders HTTP/1.1\r\nHost: a.example:8080\r\nAccept: */*\r\n"
            "Transfer-Encoding: chunked\r\n\r\n");
  req.method = "GET";
  req.body = BodyLength::none();
  req.headers.clear();
  out.clear();
  write_request_head(req, &out, /*websocket_upgrade=*/true);
  EXPECT_EQ(out,
            "GET /orders HTTP/1.1\r\nHost: a.example:8080\r\nConnection: upgrade\r\n"
            "Upgrade: websocket\r\n\r\n");
}

TEST(Http1Writer, ResponseHeadFramingAndPersistence) {
  Response resp;
  resp.status = 200;
  resp.headers.add("Content-Type", "text/plain");
  resp.body = BodyLength::known(5);
  std::string out = "kept|";  // appended to, never overwritten
  write_response_head(resp, false, Persistence::kDefault, &out);
  EXPECT_EQ(out, "kept|HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n");
  resp.body = BodyLength::until_end();
  out.clear();
  write_response_head(resp, true, Persistence::kKeepAlive, &out);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
            "Connection: keep-alive\r\n\r\n");
  out.clear();  // an HTTP/1.0 client: no chunks, the close ends the body
  write_response_head(resp, false, Persistence::kClose, &out);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n");
  resp.status = 404;
  resp.headers.clear();
  resp.body = BodyLength::known(18446744073709551615ULL);  // the bound holds 20 digits
  out.clear();
  write_response_head(resp, false, Persistence::kDefault, &out);
  EXPECT_EQ(out, "HTTP/1.1 404 Not Found\r\nContent-Length: 18446744073709551615\r\n\r\n");
}

}  // namespace
}  // namespace sluice::http
