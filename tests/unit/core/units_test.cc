#include "core/units.h"

#include <gtest/gtest.h>

namespace sluice::core {
namespace {

TEST(Units, Durations) {
  EXPECT_EQ(parse_duration("250ms"), Millis(250));
  EXPECT_EQ(parse_duration("2s"), Millis(2000));
  EXPECT_EQ(parse_duration("1m"), Millis(60000));
  EXPECT_EQ(parse_duration("1h"), Millis(3600000));
  EXPECT_EQ(parse_duration("0s"), Millis(0));
}

TEST(Units, BadDurations) {
  for (const char* bad :
       {"", "5", "s", "-1s", "1.5s", "1 s", "1sec", "99999999999999999999h", "1d"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
}

TEST(Units, Sizes) {
  EXPECT_EQ(parse_size("512"), 512u);
  EXPECT_EQ(parse_size("16k"), 16u * 1024);
  EXPECT_EQ(parse_size("1m"), 1u << 20);
  EXPECT_EQ(parse_size("2G"), uint64_t{2} << 30);
  for (const char* bad : {"", "k", "1kb", "-1", "1.5m", "99999999999999999999g"}) {
    EXPECT_FALSE(parse_size(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace sluice::core
