#pragma once
// Request path normalisation (RFC 3986 6.2.2): percent-decode unreserved characters, upper-case
// the remaining percent-encodings, merge repeated slashes and remove dot-segments. The router
// matches the normalised path and the same path is forwarded, so a backend can never see a path
// that routing did not (`/public/%2e%2e/admin`, `//admin`, `/a/./../admin`).
#include <string>
#include <string_view>

namespace sluice::http {

// Writes the normalised form of `path` (which starts with '/') into `out`. Encoded slashes
// (%2F) stay encoded: they are data, not separators.
void normalize_path(std::string_view path, std::string* out);

}  // namespace sluice::http
