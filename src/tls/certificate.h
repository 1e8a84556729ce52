#pragma once
// Reading and checking TLS files (certificates, keys, CA bundles, OCSP responses) with OpenSSL.
// Used by the config loader, so that a bad file is a config error naming it, and by the
// server contexts. No config types here.
#include <string>
#include <vector>

namespace sluice::tls {

// Empty when `cert_file` holds a PEM certificate (and chain) and `key_file` its private key;
// otherwise what is wrong, naming the file.
std::string check_key_pair(const std::string& cert_file, const std::string& key_file);
// Empty when `file` holds at least one PEM certificate.
std::string check_ca_file(const std::string& file);
// Empty when `file` holds a DER OCSP response.
std::string check_ocsp_file(const std::string& file);

// The DNS names a certificate is for (subjectAltName, else the subject's CN), lower-case, as
// written ("*.example.com" stays a wildcard).
std::vector<std::string> certificate_names(const std::string& cert_file);

// The whole file, or an error message in `error`.
std::string read_file(const std::string& file, std::string* error);

}  // namespace sluice::tls
