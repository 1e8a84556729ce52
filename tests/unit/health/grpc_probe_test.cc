#include "health/grpc_probe.h"

#include <gtest/gtest.h>

namespace sluice::health {
namespace {

TEST(GrpcHealth, RequestForTheWholeServerIsAnEmptyMessage) {
  EXPECT_EQ(grpc_health_request(""), std::string(5, '\0'));
}

TEST(GrpcHealth, RequestCarriesTheServiceAsField1) {
  std::string frame = grpc_health_request("echo");
  ASSERT_EQ(frame.size(), 5u + 6u);
  EXPECT_EQ(frame.substr(0, 5), std::string("\0\0\0\0\x06", 5));
  EXPECT_EQ(frame.substr(5), std::string("\x0a\x04") + "echo");
}

TEST(GrpcHealth, LongServiceNamesUseAVarintLength) {
  std::string name(200, 's');
  std::string frame = grpc_health_request(name);
  EXPECT_EQ(frame.substr(5, 3), std::string("\x0a\xc8\x01"));  // 200 = 0xc8 0x01
  EXPECT_EQ(frame.size(), 5u + 3u + 200u);
}

TEST(GrpcHealth, ResponseStatus) {
  EXPECT_EQ(grpc_health_status(std::string("\x08\x01")), 1);   // SERVING
  EXPECT_EQ(grpc_health_status(std::string("\x08\x02")), 2);   // NOT_SERVING
  EXPECT_EQ(grpc_health_status(""), 0);                        // absent: UNKNOWN
  EXPECT_EQ(grpc_health_status(std::string("\x12\x01")), -1);  // not this message
}

}  // namespace
}  // namespace sluice::health
