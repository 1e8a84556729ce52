#include "l7/downstream.h"

#include "l7/plain_io.h"
#include "l7/tls_io.h"

#include <openssl/x509.h>

namespace sluice::l7 {
namespace {
constexpr size_t kJoinBelow = 16 * 1024;  // TLS: one record's worth
// A small head and body go out as one buffer: send() instead of sendmsg(), whose msghdr and
// iovec import cost the kernel more than copying a few KiB (perf, h2load and wrk).
constexpr size_t kJoinPlainBelow = 4 * 1024;
}  // namespace

Downstream::~Downstream() {
  if (ssl_) {
    // close_notify, so the client knows the response was not cut
    if (socket_.is_open()) tls_io::shutdown(ssl_, broken_);
    SSL_free(ssl_);
  }
}

asio::awaitable<bool> Downstream::handshake(std::shared_ptr<const tls::ServerContext> context,
                                            const char** why) {
  context_ = std::move(context);
  std::error_code ec;
  socket_.non_blocking(true, ec);
  ssl_ = context_->new_ssl();
  if (ec || !ssl_ || !tls_io::attach(ssl_, socket_.native_handle())) {
    *why = "setup";
    broken_ = true;
    co_return false;
  }
  SSL_set_accept_state(ssl_);
  if (auto failed = co_await tls_io::handshake(socket_, ssl_, &broken_)) {
    *why = failed == asio::error::operation_aborted ? "timeout" : "handshake";
    co_return false;
  }
  if (X509* peer = SSL_get0_peer_certificate(ssl_);
      peer && SSL_get_verify_result(ssl_) == X509_V_OK) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (bio && X509_NAME_print_ex(bio, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) >= 0) {
      char* data = nullptr;
      long len = BIO_get_mem_data(bio, &data);
      client_subject_.assign(data, static_cast<size_t>(len));
    }
    BIO_free(bio);
  }
  co_return true;
}

asio::awaitable<std::tuple<std::error_code, size_t>> Downstream::read_some(char* data,
                                                                           size_t size) {
  if (ssl_) return tls_io::read_some(socket_, ssl_, data, size, &broken_);
  return plain_io::read_some(socket_, data, size);
}

void Downstream::join_small(std::string_view* a, std::string_view* b) {
  if (b->empty() || a->size() + b->size() > (ssl_ ? kJoinBelow : kJoinPlainBelow)) return;
  scratch_.assign(*a);
  scratch_.append(*b);
  *a = scratch_;
  *b = {};
}

bool Downstream::write_now(std::string_view* a, std::string_view* b, std::error_code* ec) {
  join_small(a, b);
  if (!ssl_) return plain_io::write_now(socket_, a, b, ec);
  return tls_io::write_now(ssl_, a, b, &broken_, ec);
}

asio::awaitable<std::tuple<std::error_code, size_t>> Downstream::write(std::string_view a,
                                                                       std::string_view b) {
  join_small(&a, &b);
  if (!ssl_) return plain_io::write(socket_, a, b);
  if (b.empty()) return tls_io::write(socket_, ssl_, a, &broken_);
  return tls_io::write(socket_, ssl_, a, b, &broken_);
}

void Downstream::cancel() {
  std::error_code ec;
  socket_.cancel(ec);
}

void Downstream::shutdown_send() {
  if (ssl_) tls_io::shutdown(ssl_, broken_);  // sends close_notify; we do not wait for the peer's
  std::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

void Downstream::close() {
  if (ssl_ && socket_.is_open()) tls_io::shutdown(ssl_, broken_);
  std::error_code ec;
  socket_.close(ec);
}

bool Downstream::resumed() const { return ssl_ && SSL_session_reused(ssl_) == 1; }

std::string_view Downstream::alpn() const {
  if (!ssl_) return {};
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &data, &len);
  return {reinterpret_cast<const char*>(data), len};
}

std::string_view Downstream::sni() const {
  const char* name = ssl_ ? SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name) : nullptr;
  return name ? std::string_view(name) : std::string_view();
}

}  // namespace sluice::l7
