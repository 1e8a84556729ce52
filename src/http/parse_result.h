#pragma once
#include <cstddef>
#include <string_view>

namespace sluice::http {

// Outcome of feeding bytes to a head parser. On error, `status` is the HTTP status to answer
// with and `reason` a short text for the log and the error body; the connection must be closed.
struct ParseResult {
  enum class State { kIncomplete, kDone, kError };
  State state = State::kIncomplete;
  size_t consumed = 0;  // bytes of the head, when kDone
  int status = 0;
  std::string_view reason;

  static ParseResult incomplete() { return {}; }
  static ParseResult done(size_t n) { return {State::kDone, n, 0, {}}; }
  static ParseResult error(int status, std::string_view reason) {
    return {State::kError, 0, status, reason};
  }
  bool ok() const { return state == State::kDone; }
  bool is_error() const { return state == State::kError; }
};

}  // namespace sluice::http
