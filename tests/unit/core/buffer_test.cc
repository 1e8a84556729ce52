#include "core/buffer.h"

#include <gtest/gtest.h>

namespace sluice::core {
namespace {

TEST(Buffer, GrowsUpToMaximumAndCompacts) {
  Buffer b(8, 32);
  b.append("12345678");
  EXPECT_EQ(b.capacity(), 8u);
  b.append("abcdefgh");
  EXPECT_EQ(b.capacity(), 16u);
  EXPECT_EQ(b.data(), "12345678abcdefgh");
  b.consume(8);
  auto space = b.prepare(8);  // compacts rather than grows
  EXPECT_GE(space.size(), 8u);
  EXPECT_EQ(b.capacity(), 16u);
  EXPECT_EQ(b.data(), "abcdefgh");
  b.append(std::string(40, 'x'));  // bounded: never beyond max
  EXPECT_EQ(b.capacity(), 32u);
  EXPECT_EQ(b.size(), 32u);
  EXPECT_TRUE(b.prepare(1).empty());
}

}  // namespace
}  // namespace sluice::core
