#include "tls/certificate.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <memory>
#include <sstream>

namespace sluice::tls {
namespace {

std::string openssl_reason() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  const char* reason = ERR_reason_error_string(e);
  return reason ? reason : "error " + std::to_string(e);
}

struct FreeX509 {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, FreeX509>;

X509Ptr read_pem_cert(const std::string& file) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(file.c_str(), "r"), BIO_free);
  if (!bio) return nullptr;
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

std::string read_file(const std::string& file, std::string* error) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    *error = "cannot read '" + file + "'";
    return {};
  }
  std::ostringstream all;
  all << in.rdbuf();
  return all.str();
}

std::string check_key_pair(const std::string& cert_file, const std::string& key_file) {
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()),
                                                        SSL_CTX_free);
  if (!ctx) return "cannot create a TLS context: " + openssl_reason();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1)
    return "certificate '" + cert_file + "': " + openssl_reason();
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(key_file.c_str(), "r"), BIO_free);
  if (!bio) return "key '" + key_file + "': cannot read it";
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!key) return "key '" + key_file + "': not a PEM private key (" + openssl_reason() + ")";
  if (X509_check_private_key(SSL_CTX_get0_certificate(ctx.get()), key.get()) != 1) {
    ERR_clear_error();
    return "key '" + key_file + "' does not match certificate '" + cert_file + "'";
  }
  return {};
}

std::string check_ca_file(const std::string& file) {
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()),
                                                        SSL_CTX_free);
  if (!ctx || SSL_CTX_load_verify_locations(ctx.get(), file.c_str(), nullptr) != 1)
    return "CA file '" + file + "': " + openssl_reason();
  return {};
}

std::string check_ocsp_file(const std::string& file) {
  std::string error;
  std::string der = read_file(file, &error);
  if (!error.empty()) return error;
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  OCSP_RESPONSE* resp = d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size()));
  if (!resp) return "OCSP response '" + file + "' is not a DER OCSP response";
  OCSP_RESPONSE_free(resp);
  return {};
}

std::vector<std::string> certificate_names(const std::string& cert_file) {
  std::vector<std::string> names;
  X509Ptr cert = read_pem_cert(cert_file);
  if (!cert) return names;
  auto* sans = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
      if (name->type != GEN_DNS) continue;
      const ASN1_IA5STRING* dns = name->d.dNSName;
      names.push_back(lower(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                        static_cast<size_t>(ASN1_STRING_length(dns)))));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {  // RFC 6125 allows the CN only when there is no DNS name in the SAN
    X509_NAME* subject = X509_get_subject_name(cert.get());
    int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (at >= 0) {
      const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
      names.push_back(lower(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                                        static_cast<size_t>(ASN1_STRING_length(cn)))));
    }
  }
  return names;
}

}  // namespace sluice::tls
