#pragma once
// How one try of an exchange with an upstream ended, and the pure decisions that follow from it:
// what the try says about its endpoint (outlier detection), whether another try is wanted, and
// what sluice answers itself when nothing was relayed.
#include <cstdint>
#include <string_view>

#include "config/config.h"

namespace sluice::l7 {

enum class Outcome : uint8_t {
  kDone,           // response relayed
  kStale,          // pooled connection was dead before any response byte: resend is safe
  kReset,          // upstream closed or reset before any response byte
  kRetryStatus,    // upstream answered a status the retry policy retries; nothing was relayed
  kConnectFailed,  // no connection could be made to the last endpoint tried
  kNoEndpoint,     // the balancer had no (healthy, untried) endpoint
  kOverloaded,     // the cluster's circuit breaker refused a new connection
  kLocalResponse,  // sluice must answer with the exchange's local status (0: nobody to answer)
  kAborted,        // a side broke after response bytes went out: close the client
  kUpgraded,       // the upstream switched protocols (101, WebSocket): tunnel the bytes
};

// Methods whose request may be sent twice with the effect of once (RFC 9110 9.2.2).
bool is_idempotent(std::string_view method);

// What a try says about its endpoint: nothing (the client's failure, or no try), a success, or
// a failure that counts toward ejecting it.
enum class TryVerdict : uint8_t { kNone, kSucceeded, kFailed };
TryVerdict try_verdict(Outcome outcome, int relayed_status, int local_status);

// Whether the try's outcome calls for another try on another endpoint, before the retry budget
// and the count of attempts left are asked. `resendable`: idempotent and without a body.
bool wants_retry(Outcome outcome, int local_status, bool resendable,
                 const config::RetryPolicy& policy);

// What sluice answers when the exchange relayed nothing: the status and the detail of its body.
// `tried_endpoint`: at least one endpoint was tried and excluded. A status of 0 means nobody is
// left to answer (the client is gone).
struct LocalAnswer {
  int status = 0;
  std::string_view detail;
};
LocalAnswer local_answer(Outcome outcome, int relayed_status, int local_status,
                         std::string_view local_detail, bool tried_endpoint);

}  // namespace sluice::l7
