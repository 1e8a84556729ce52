#include "tls/client_hello.h"

#include <cstdint>

namespace sluice::tls {
namespace {

// Bounds-checked big-endian reader over one buffer.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool u8(uint32_t* out) { return read(1, out); }
  bool u16(uint32_t* out) { return read(2, out); }
  bool u24(uint32_t* out) { return read(3, out); }
  bool bytes(size_t n, std::string_view* out) {
    if (data_.size() - pos_ < n) return false;
    *out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool skip(size_t n) {
    std::string_view ignored;
    return bytes(n, &ignored);
  }
  size_t left() const { return data_.size() - pos_; }

 private:
  bool read(size_t n, uint32_t* out) {
    if (data_.size() - pos_ < n) return false;
    uint32_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(data_[pos_ + i]);
    pos_ += n;
    *out = v;
    return true;
  }
  std::string_view data_;
  size_t pos_ = 0;
};

ClientHelloResult error(const char* why) {
  ClientHelloResult r;
  r.state = ClientHelloResult::State::kError;
  r.error = why;
  return r;
}

bool valid_host_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

ClientHelloResult parse_client_hello(std::string_view bytes) {
  // Reassemble the handshake message from as many records as needed.
  std::string handshake;
  size_t pos = 0;
  uint32_t needed = 0;  // handshake message length once known (+4 for its header)
  while (true) {
    if (bytes.size() - pos < 5) return {};
    Reader record(bytes.substr(pos, 5));
    uint32_t type, version, length;
    record.u8(&type);
    record.u16(&version);
    record.u16(&length);
    if (type != 22) return error("not a TLS handshake record");
    if ((version >> 8) != 3) return error("bad record version");
    if (length == 0 || length > 16384) return error("bad record length");
    if (bytes.size() - pos - 5 < length) return {};
    handshake.append(bytes.substr(pos + 5, length));
    pos += 5 + length;
    if (needed == 0 && handshake.size() >= 4) {
      Reader h(handshake);
      uint32_t msg_type, msg_length;
      h.u8(&msg_type);
      h.u24(&msg_length);
      if (msg_type != 1) return error("first handshake message is not a ClientHello");
      if (msg_length + 4 > kMaxClientHelloBytes) return error("ClientHello too large");
      needed = msg_length + 4;
    }
    if (needed != 0 && handshake.size() >= needed) break;
    if (handshake.size() > kMaxClientHelloBytes) return error("ClientHello too large");
  }

  Reader r(std::string_view(handshake).substr(4, needed - 4));
  uint32_t legacy_version, session_len, suites_len, compression_len;
  if (!r.u16(&legacy_version) || (legacy_version >> 8) != 3)
    return error("bad ClientHello version");
  if (!r.skip(32)) return error("truncated random");
  if (!r.u8(&session_len) || session_len > 32 || !r.skip(session_len))
    return error("bad session id");
  if (!r.u16(&suites_len) || suites_len == 0 || suites_len % 2 != 0 || !r.skip(suites_len)) {
    return error("bad cipher suites");
  }
  if (!r.u8(&compression_len) || compression_len == 0 || !r.skip(compression_len)) {
    return error("bad compression methods");
  }
  ClientHelloResult result;
  result.state = ClientHelloResult::State::kDone;
  if (r.left() == 0) return result;  // no extensions at all: no SNI
  uint32_t extensions_len;
  std::string_view extensions;
  if (!r.u16(&extensions_len) || !r.bytes(extensions_len, &extensions) || r.left() != 0) {
    return error("bad extensions length");
  }
  Reader ext(extensions);
  bool seen_sni = false, seen_alpn = false;
  while (ext.left() > 0) {
    uint32_t type, length;
    std::string_view body;
    if (!ext.u16(&type) || !ext.u16(&length) || !ext.bytes(length, &body)) {
      return error("truncated extension");
    }
    if (type == 0) {  // server_name
      if (seen_sni) return error("duplicate server_name");
      seen_sni = true;
      Reader s(body);
      uint32_t list_len, name_type, name_len;
      std::string_view list, name;
      if (!s.u16(&list_len) || !s.bytes(list_len, &list) || s.left() != 0)
        return error("bad server_name");
      Reader l(list);
      while (l.left() > 0) {
        if (!l.u8(&name_type) || !l.u16(&name_len) || !l.bytes(name_len, &name)) {
          return error("bad server_name entry");
        }
        if (name_type != 0) continue;  // only host_name is defined
        if (!result.info.sni.empty()) return error("two host names");
        if (!valid_host_name(name)) return error("invalid host name");
        result.info.sni.assign(name);
        for (char& c : result.info.sni) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
        if (!result.info.sni.empty() && result.info.sni.back() == '.') result.info.sni.pop_back();
      }
    } else if (type == 16) {  // application_layer_protocol_negotiation
      if (seen_alpn) return error("duplicate ALPN");
      seen_alpn = true;
      Reader a(body);
      uint32_t list_len, proto_len;
      std::string_view list, proto;
      if (!a.u16(&list_len) || !a.bytes(list_len, &list) || a.left() != 0) return error("bad ALPN");
      Reader l(list);
      while (l.left() > 0) {
        if (!l.u8(&proto_len) || proto_len == 0 || !l.bytes(proto_len, &proto))
          return error("bad ALPN entry");
        result.info.alpn.emplace_back(proto);
      }
    }
  }
  return result;
}

}  // namespace sluice::tls
