#pragma once
#include <string_view>

namespace sluice::http {

// Reason phrase for a status code ("" for unknown codes; the phrase is optional on the wire).
std::string_view reason_phrase(int status);

}  // namespace sluice::http
