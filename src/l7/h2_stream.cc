#include "l7/h2_stream.h"

#include <algorithm>
#include <charconv>

#include "http/status.h"
#include "l7/h2_connection.h"

namespace sluice::l7 {
namespace {
using namespace std::string_view_literals;
using h2_bridge::make_nv;  // appends of known length, no strlen

}  // namespace

void H2Stream::reopen_window(size_t n) { connection->consumed(*this, n); }

asio::awaitable<std::tuple<std::error_code, size_t>> H2Stream::write(std::string_view a,
                                                                     std::string_view b) {
  const size_t size = a.size() + b.size();
  std::error_code ec;
  if (size > 0 && write_now(a, b, &ec)) co_return std::tuple{ec, ec ? size_t{0} : size};
  ec = co_await wait_for_room();  // the client's window holds too much of this response
  co_return std::tuple{ec, ec ? size_t{0} : size};
}

bool H2Stream::write_now(std::string_view a, std::string_view b, std::error_code* ec) {
  // Body bytes only: the head went before as HEADERS (submit_response), and they are DATA as
  // they are. A known length ends the stream once it is all there.
  if (closed || !connection || !head_sent) {
    *ec = asio::error::connection_reset;
    return true;
  }
  for (auto part : {a, b}) {
    if (known_length) {
      part = part.substr(0, static_cast<size_t>(std::min<uint64_t>(part.size(), remaining)));
      remaining -= part.size();
    } else if (out_eof) {
      part = {};
    }
    out.append(part);
  }
  if (known_length && remaining == 0) out_eof = true;
  connection->response_ready(*this);
  return has_room();
}

std::vector<http::Header> H2Stream::request_trailer_fields() const {
  std::vector<http::Header> fields;
  fields.reserve(request_trailers.size());
  for (const auto& [name, value] : request_trailers) fields.push_back({name, value});
  return fields;
}

void H2Stream::finish_head() {
  // Views into `store` only now: it grew while the fields came in.
  request.clear();
  request.method = method;
  request.target = path;
  request.host = authority;
  request.version_minor = 1;
  request.headers.reserve(spans.size() + 2);
  const std::string_view all = store;
  for (const auto& [name_at, name_len, value_at, value_len] : spans)
    request.headers.push_back({all.substr(name_at, name_len), all.substr(value_at, value_len)});
  if (!cookies.empty()) request.headers.push_back({"cookie", cookies});
}

bool H2Stream::submit_tunnel(const http::ResponseHead& resp) {
  if (closed || !connection) return false;
  thread_local std::vector<http::Header> headers;
  headers.clear();
  for (const auto& h : resp.headers) {
    if (h.name.size() != 20 || !http::iequals(h.name, "sec-websocket-accept")) headers.push_back(h);
  }
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [&](const http::Header& h) {
                                 return http::is_hop_by_hop(h, resp.framing) ||
                                        h.id == http::HeaderId::kContentLength;
                               }),
                headers.end());
  tunnel = true;
  if (!submit(200, headers, {}, /*has_body=*/true)) return false;
  connection->response_ready(*this);  // no write follows at once to send the HEADERS
  return true;
}

bool H2Stream::submit(int status_code, const std::vector<http::Header>& headers,
                      std::string_view content_length, bool has_body) {
  // Scratch reused by every stream of the thread: nghttp2 copies what it is given, and lowercases
  // the names as it copies them (HTTP/1.1 backends send "Content-Type").
  thread_local std::vector<nghttp2_nv> nv;
  char status[4] = {static_cast<char>('0' + status_code / 100 % 10),
                    static_cast<char>('0' + status_code / 10 % 10),
                    static_cast<char>('0' + status_code % 10), 0};
  nv.clear();
  nv.push_back(make_nv(":status", std::string_view(status, 3)));
  for (const auto& h : headers) {
    if (http::is_connection_specific(h.id)) continue;
    nv.push_back(make_nv(h.name, h.value));
  }
  if (!content_length.empty()) nv.push_back(make_nv("content-length", content_length));
  out_eof = !has_body;
  nghttp2_data_provider provider{};
  provider.source.ptr = this;
  provider.read_callback = h2_bridge::read_data<H2Stream>;
  if (nghttp2_submit_response(connection->session(), id, nv.data(), nv.size(),
                              has_body ? &provider : nullptr) != 0) {
    return false;
  }
  head_sent = true;
  return true;
}

bool H2Stream::submit_response(const http::Response& resp) {
  if (closed || !connection || head_sent) return false;
  // HEAD, 204 and 304 carry no body whatever their fields say (RFC 9110 6.4.1).
  const bool no_body = method == "HEAD" || resp.status == 204 || resp.status == 304;
  char length[24] = {};
  std::string_view content_length;
  known_length = resp.body.kind == http::BodyLength::Kind::kKnown;
  if (known_length) {
    auto [end, ec] = std::to_chars(length, length + sizeof(length), resp.body.length);
    content_length = std::string_view(length, static_cast<size_t>(end - length));
    remaining = no_body ? 0 : resp.body.length;
  }
  const bool has_body = !no_body && !resp.body.empty();
  return submit(resp.status, resp.headers.fields(), content_length, has_body);
}

void H2Stream::end_body(const std::vector<http::Header>& fields) {
  if (closed || !connection) return;
  for (const auto& f : fields) {
    if (http::is_connection_specific(f.id) || http::iequals(f.name, "content-length")) continue;
    std::string name(f.name);
    std::transform(name.begin(), name.end(), name.begin(), http::ascii_lower);
    trailers.emplace_back(std::move(name), std::string(f.value));
  }
  out_eof = true;
  connection->response_ready(*this);
}

void H2Stream::finish() {
  if (finished) return;
  finished = true;
  if (tunnel && head_sent) out_eof = true;  // a tunnel's close is its end
  if (connection) connection->stream_finished(*this);
}

void H2Stream::submit_local(int status_code, std::string_view text) {
  static const std::vector<http::Header> kFields = {
      {"content-type", "text/plain; charset=utf-8", http::HeaderId::kOther}};
  out.assign(std::to_string(status_code)).append(" "sv).append(http::reason_phrase(status_code));
  out.append(": "sv).append(text).append("\n"sv);
  const std::string length = std::to_string(out.size());
  known_length = true;
  remaining = 0;  // all of it is in `out` already
  submit(status_code, kFields, length, /*has_body=*/true);
  out_eof = true;
}

}  // namespace sluice::l7
