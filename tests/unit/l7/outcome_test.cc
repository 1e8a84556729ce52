// The decisions taken after each try of an exchange: outlier verdicts, retries, local answers.
#include "l7/outcome.h"

#include <gtest/gtest.h>

#include "l7/grpc_status.h"

namespace sluice::l7 {
namespace {

TEST(Outcome, IdempotentMethodsAreThoseOfRfc9110) {
  for (auto m : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}) EXPECT_TRUE(is_idempotent(m));
  for (auto m : {"POST", "PATCH", "CONNECT", "get", ""}) EXPECT_FALSE(is_idempotent(m)) << m;
}

TEST(Outcome, TryVerdicts) {
  EXPECT_EQ(try_verdict(Outcome::kDone, 200, 0), TryVerdict::kSucceeded);
  EXPECT_EQ(try_verdict(Outcome::kDone, 503, 0), TryVerdict::kFailed);
  EXPECT_EQ(try_verdict(Outcome::kUpgraded, 101, 0), TryVerdict::kSucceeded);
  EXPECT_EQ(try_verdict(Outcome::kReset, 0, 0), TryVerdict::kFailed);
  EXPECT_EQ(try_verdict(Outcome::kRetryStatus, 503, 0), TryVerdict::kFailed);
  EXPECT_EQ(try_verdict(Outcome::kLocalResponse, 0, 504), TryVerdict::kFailed);
  EXPECT_EQ(try_verdict(Outcome::kLocalResponse, 0, 502), TryVerdict::kFailed);
  // the client was too slow or sent a bad body: nothing against the endpoint
  EXPECT_EQ(try_verdict(Outcome::kLocalResponse, 0, 408), TryVerdict::kNone);
  EXPECT_EQ(try_verdict(Outcome::kLocalResponse, 0, 400), TryVerdict::kNone);
  EXPECT_EQ(try_verdict(Outcome::kAborted, 200, 0), TryVerdict::kNone);
  // connect failures are noted where they happen, not from the outcome
  EXPECT_EQ(try_verdict(Outcome::kConnectFailed, 0, 0), TryVerdict::kNone);
}

TEST(Outcome, RetriesFollowThePolicyAndResendability) {
  config::RetryPolicy policy;
  EXPECT_FALSE(wants_retry(Outcome::kReset, 0, true, policy));  // on_reset is off by default
  policy.on_reset = true;
  EXPECT_TRUE(wants_retry(Outcome::kReset, 0, true, policy));
  EXPECT_FALSE(wants_retry(Outcome::kReset, 0, false, policy));  // a POST may have been acted on
  EXPECT_TRUE(wants_retry(Outcome::kRetryStatus, 0, true, policy));
  EXPECT_FALSE(wants_retry(Outcome::kLocalResponse, 504, true, policy));
  policy.on_status = {502, 504};
  EXPECT_TRUE(wants_retry(Outcome::kLocalResponse, 504, true, policy));
  EXPECT_FALSE(wants_retry(Outcome::kLocalResponse, 504, false, policy));
  EXPECT_FALSE(wants_retry(Outcome::kLocalResponse, 502, true, policy));  // only a timed-out try
  EXPECT_FALSE(wants_retry(Outcome::kDone, 0, true, policy));
  EXPECT_FALSE(wants_retry(Outcome::kAborted, 0, true, policy));
}

TEST(Outcome, LocalAnswers) {
  auto a = local_answer(Outcome::kOverloaded, 0, 0, {}, false);
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(a.detail, "circuit breaker open");
  a = local_answer(Outcome::kReset, 0, 0, {}, true);
  EXPECT_EQ(a.status, 502);
  EXPECT_EQ(local_answer(Outcome::kStale, 0, 0, {}, true).status, 502);
  EXPECT_EQ(local_answer(Outcome::kNoEndpoint, 0, 0, {}, false).detail, "no healthy endpoint");
  EXPECT_EQ(local_answer(Outcome::kNoEndpoint, 0, 0, {}, true).detail,
            "no endpoint could be reached");
  EXPECT_EQ(local_answer(Outcome::kConnectFailed, 0, 0, {}, true).status, 503);
  EXPECT_EQ(local_answer(Outcome::kRetryStatus, 503, 0, {}, true).status, 503);
  EXPECT_EQ(local_answer(Outcome::kRetryStatus, 0, 0, {}, true).status, 502);
  a = local_answer(Outcome::kLocalResponse, 0, 400, "bad chunk size", false);
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.detail, "bad chunk size");
  EXPECT_EQ(local_answer(Outcome::kLocalResponse, 0, 0, {}, false).status, 0);  // client gone
}

TEST(GrpcStatus, HttpStatusMapping) {
  EXPECT_EQ(grpc_status_for(503), 14);  // UNAVAILABLE
  EXPECT_EQ(grpc_status_for(502), 14);
  EXPECT_EQ(grpc_status_for(429), 14);
  EXPECT_EQ(grpc_status_for(504), 4);  // DEADLINE_EXCEEDED
  EXPECT_EQ(grpc_status_for(408), 4);
  EXPECT_EQ(grpc_status_for(413), 8);  // RESOURCE_EXHAUSTED
  EXPECT_EQ(grpc_status_for(431), 8);
  EXPECT_EQ(grpc_status_for(404), 12);  // UNIMPLEMENTED
  EXPECT_EQ(grpc_status_for(403), 7);
  EXPECT_EQ(grpc_status_for(401), 16);
  EXPECT_EQ(grpc_status_for(400), 13);  // INTERNAL
  EXPECT_EQ(grpc_status_for(500), 2);   // UNKNOWN
}

TEST(GrpcStatus, Timeouts) {
  using namespace std::chrono;
  EXPECT_EQ(parse_grpc_timeout("1H"), microseconds(hours(1)));
  EXPECT_EQ(parse_grpc_timeout("2M"), microseconds(minutes(2)));
  EXPECT_EQ(parse_grpc_timeout("3S"), microseconds(seconds(3)));
  EXPECT_EQ(parse_grpc_timeout("250m"), microseconds(milliseconds(250)));
  EXPECT_EQ(parse_grpc_timeout("7u"), microseconds(7));
  EXPECT_EQ(parse_grpc_timeout("5000n"), microseconds(5));
  EXPECT_EQ(parse_grpc_timeout("1n"), microseconds(1));  // never zero
  EXPECT_EQ(parse_grpc_timeout("99999999S"), microseconds(seconds(99999999)));
  for (auto bad : {"", "S", "1", "1x", "-1S", "123456789S", "1.5S", " 1S"})
    EXPECT_EQ(parse_grpc_timeout(bad), std::nullopt) << bad;
}

TEST(GrpcStatus, MessagePercentEncoding) {
  std::string out;
  append_grpc_message(&out, "no endpoint: 100% gone\n\xc3\xa9");
  EXPECT_EQ(out, "no endpoint: 100%25 gone%0A%C3%A9");
}

}  // namespace
}  // namespace sluice::l7
