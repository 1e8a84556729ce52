#include "health/grpc_probe.h"

#include <nghttp2/nghttp2.h>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <array>
#include <cstring>

namespace sluice::health {
namespace {
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr size_t kMaxResponse = 64 * 1024;

struct Exchange {
  std::string request;  // the gRPC frame to send
  size_t sent = 0;
  std::string status;       // :status
  std::string grpc_status;  // from headers (trailers-only) or trailers
  std::string data;
  bool closed = false;
  uint32_t close_code = 0;
};

nghttp2_nv nv(const char* name, const std::string& value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name)),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), std::strlen(name),
          value.size(), NGHTTP2_NV_FLAG_NONE};
}

void put_varint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

}  // namespace

std::string grpc_health_request(const std::string& service) {
  std::string message;
  if (!service.empty()) {  // field 1 (service), length-delimited
    message.push_back(0x0a);
    put_varint(&message, service.size());
    message += service;
  }
  std::string frame(5, '\0');  // uncompressed, then the length, big-endian
  const auto len = static_cast<uint32_t>(message.size());
  frame[1] = static_cast<char>(len >> 24);
  frame[2] = static_cast<char>(len >> 16);
  frame[3] = static_cast<char>(len >> 8);
  frame[4] = static_cast<char>(len);
  return frame + message;
}

int grpc_health_status(std::string_view message) {
  // HealthCheckResponse { ServingStatus status = 1; }: a varint field, possibly absent (0).
  int status = 0;
  size_t i = 0;
  while (i < message.size()) {
    const auto key = static_cast<uint8_t>(message[i++]);
    if (key == 0x08) {  // field 1, varint
      uint64_t v = 0;
      int shift = 0;
      while (i < message.size() && shift < 64) {
        const auto b = static_cast<uint8_t>(message[i++]);
        v |= static_cast<uint64_t>(b & 0x7f) << shift;
        if (!(b & 0x80)) break;
        shift += 7;
      }
      status = static_cast<int>(v);
    } else {
      return -1;  // nothing else is in this message
    }
  }
  return status;
}

asio::awaitable<GrpcProbeResult> grpc_health_check(asio::ip::tcp::socket& socket,
                                                   const std::string& authority,
                                                   const std::string& service) {
  Exchange ex;
  ex.request = grpc_health_request(service);
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_header_callback(
      cb,
      [](nghttp2_session*, const nghttp2_frame*, const uint8_t* name, size_t namelen,
         const uint8_t* value, size_t valuelen, uint8_t, void* user) -> int {
        auto* e = static_cast<Exchange*>(user);
        std::string_view n(reinterpret_cast<const char*>(name), namelen);
        std::string v(reinterpret_cast<const char*>(value), valuelen);
        if (n == ":status") e->status = v;
        if (n == "grpc-status") e->grpc_status = v;
        return 0;
      });
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
      cb,
      [](nghttp2_session*, uint8_t, int32_t, const uint8_t* data, size_t len, void* user) -> int {
        auto* e = static_cast<Exchange*>(user);
        if (e->data.size() + len > kMaxResponse) return NGHTTP2_ERR_CALLBACK_FAILURE;
        e->data.append(reinterpret_cast<const char*>(data), len);
        return 0;
      });
  nghttp2_session_callbacks_set_on_stream_close_callback(
      cb, [](nghttp2_session*, int32_t, uint32_t code, void* user) -> int {
        auto* e = static_cast<Exchange*>(user);
        e->closed = true;
        e->close_code = code;
        return 0;
      });
  nghttp2_session* session = nullptr;
  nghttp2_session_client_new(&session, cb, &ex);
  nghttp2_session_callbacks_del(cb);
  struct Free {
    nghttp2_session* s;
    ~Free() { nghttp2_session_del(s); }
  } free_session{session};

  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
  const std::string method = "POST", scheme = "http", path = "/grpc.health.v1.Health/Check",
                    type = "application/grpc", te = "trailers";
  std::array<nghttp2_nv, 6> headers{nv(":method", method),    nv(":scheme", scheme),
                                    nv(":path", path),        nv(":authority", authority),
                                    nv("content-type", type), nv("te", te)};
  nghttp2_data_provider body{};
  body.source.ptr = &ex;
  body.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                          nghttp2_data_source* source, void*) -> ssize_t {
    auto* e = static_cast<Exchange*>(source->ptr);
    size_t n = std::min(length, e->request.size() - e->sent);
    std::memcpy(buf, e->request.data() + e->sent, n);
    e->sent += n;
    if (e->sent == e->request.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  };
  if (nghttp2_submit_request(session, nullptr, headers.data(), headers.size(), &body, nullptr) < 0)
    co_return GrpcProbeResult{false, "cannot frame the call"};

  std::array<char, 16 * 1024> buf;
  for (int rounds = 0; rounds < 64 && !ex.closed; ++rounds) {  // bounded; the timeout closes too
    std::string out;
    const uint8_t* data = nullptr;
    for (ssize_t n; (n = nghttp2_session_mem_send(session, &data)) > 0;)
      out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    if (!out.empty()) {
      auto [wec, w] = co_await asio::async_write(socket, asio::buffer(out), kNoThrow);
      if (wec) co_return GrpcProbeResult{false, "write: " + wec.message()};
    }
    auto [rec, n] = co_await socket.async_read_some(asio::buffer(buf), kNoThrow);
    if (rec) co_return GrpcProbeResult{false, "read: " + rec.message()};
    if (nghttp2_session_mem_recv(session, reinterpret_cast<const uint8_t*>(buf.data()), n) < 0)
      co_return GrpcProbeResult{false, "not HTTP/2 (is the endpoint h2c?)"};
  }
  if (!ex.closed) co_return GrpcProbeResult{false, "no answer"};
  if (ex.status != "200") co_return GrpcProbeResult{false, "HTTP status " + ex.status};
  if (ex.grpc_status != "0") co_return GrpcProbeResult{false, "grpc-status " + ex.grpc_status};
  if (ex.data.size() < 5) co_return GrpcProbeResult{false, "no HealthCheckResponse"};
  const int status = grpc_health_status(std::string_view(ex.data).substr(5));
  if (status != 1) {  // 1 = SERVING
    static constexpr const char* kNames[] = {"UNKNOWN", "SERVING", "NOT_SERVING",
                                             "SERVICE_UNKNOWN"};
    co_return GrpcProbeResult{
        false, status >= 0 && status < 4 ? kNames[status] : "malformed HealthCheckResponse"};
  }
  co_return GrpcProbeResult{true, "SERVING"};
}

}  // namespace sluice::health
