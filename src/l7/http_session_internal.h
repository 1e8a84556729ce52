#pragma once
// Shared by the files that together define HttpSession (http_session*.cc): its buffer sizes and
// the deadline facts every part of it reads. Not for other modules.
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "config/config.h"
#include "l7/stats.h"

namespace sluice::l7::session {

inline constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
inline constexpr size_t kIoChunk = 16 * 1024;
inline constexpr size_t kBodyBufferMax = 64 * 1024;
inline constexpr uint32_t kMaxTries = 11;  // first try + retries.attempts (at most 10)

// Each try waits for the upstream up to retries.per_try_timeout when set, else timeouts.response.
inline std::chrono::milliseconds response_timeout_for(const config::Cluster& cluster) {
  return cluster.retries.per_try_timeout ? *cluster.retries.per_try_timeout
                                         : cluster.timeouts.response;
}

// The deadlines that mean "the upstream did not answer in time" (504) and "the client did not
// send in time" (408).
inline bool upstream_too_slow(TimeoutKind fired) {
  return fired == TimeoutKind::kResponse || fired == TimeoutKind::kRequestTotal;
}
inline bool client_too_slow(TimeoutKind fired) {
  return fired == TimeoutKind::kBodyIdle || fired == TimeoutKind::kRequestTotal;
}

}  // namespace sluice::l7::session
