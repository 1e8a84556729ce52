#pragma once
// The BIO under sluice's TLS connections (see tls_io.h for why), apart from the coroutine I/O
// so that code without coroutines (the upstream pool) can use it.
#include <openssl/ssl.h>

namespace sluice::l7::tls_io {

// Puts `ssl` on descriptor `fd` through sluice's BIO. false: out of memory.
bool attach(SSL* ssl, int fd);
// Moves what the socket holds now into the BIO's buffer, without waiting: a liveness probe of
// an idle connection asks OpenSSL after this (a close may be waiting in the socket).
void pull(SSL* ssl);

}  // namespace sluice::l7::tls_io
