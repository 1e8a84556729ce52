#include "l7/outcome.h"

#include <algorithm>

namespace sluice::l7 {

bool is_idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
         method == "PUT" || method == "DELETE";
}

TryVerdict try_verdict(Outcome outcome, int relayed_status, int local_status) {
  switch (outcome) {
    case Outcome::kDone:
    case Outcome::kUpgraded:
      return relayed_status >= 500 ? TryVerdict::kFailed : TryVerdict::kSucceeded;
    case Outcome::kReset:
    case Outcome::kRetryStatus:
      return TryVerdict::kFailed;
    case Outcome::kLocalResponse:  // the upstream broke or was too slow; the client's faults say
                                   // nothing about it
      return local_status == 502 || local_status == 504 ? TryVerdict::kFailed : TryVerdict::kNone;
    default:
      return TryVerdict::kNone;
  }
}

bool wants_retry(Outcome outcome, int local_status, bool resendable,
                 const config::RetryPolicy& policy) {
  switch (outcome) {
    case Outcome::kReset:
      return resendable && policy.on_reset;
    case Outcome::kRetryStatus:
      return true;  // only asked for when the request was resendable
    case Outcome::kLocalResponse:
      return local_status == 504 && resendable &&
             std::find(policy.on_status.begin(), policy.on_status.end(), 504) !=
                 policy.on_status.end();
    default:
      return false;
  }
}

LocalAnswer local_answer(Outcome outcome, int relayed_status, int local_status,
                         std::string_view local_detail, bool tried_endpoint) {
  switch (outcome) {
    case Outcome::kOverloaded:
      return {503, "circuit breaker open"};
    case Outcome::kStale:
    case Outcome::kReset:
      return {502, "upstream closed the connection before answering"};
    case Outcome::kRetryStatus:
      // Unreachable in practice (a retry status is relayed when no retry is left), but an
      // answer must still go out.
      return {relayed_status ? relayed_status : 502, {}};
    case Outcome::kConnectFailed:
    case Outcome::kNoEndpoint:
      // No endpoint could be reached: HAProxy and Envoy answer 503 too.
      return {503, outcome == Outcome::kNoEndpoint && !tried_endpoint
                       ? "no healthy endpoint"
                       : "no endpoint could be reached"};
    case Outcome::kLocalResponse:
      return {local_status, local_detail};
    default:
      return {relayed_status, {}};
  }
}

}  // namespace sluice::l7
