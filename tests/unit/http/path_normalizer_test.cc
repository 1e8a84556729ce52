// RFC 3986 6.2.2 normalisation, and the bypasses it must close.
#include "http/path_normalizer.h"

#include <gtest/gtest.h>

namespace sluice::http {
namespace {

std::string norm(std::string_view p) {
  std::string out;
  normalize_path(p, &out);
  return out;
}

TEST(PathNormalizer, DotSegments) {
  EXPECT_EQ(norm("/a/b/../c"), "/a/c");
  EXPECT_EQ(norm("/a/./b"), "/a/b");
  EXPECT_EQ(norm("/a/b/.."), "/a/");
  EXPECT_EQ(norm("/a/."), "/a/");
  EXPECT_EQ(norm("/../../etc/passwd"), "/etc/passwd");
  EXPECT_EQ(norm("/a/.hidden/..x"), "/a/.hidden/..x");
}

TEST(PathNormalizer, EncodedDotsAndSlashes) {
  EXPECT_EQ(norm("/public/%2e%2e/admin"), "/admin");
  EXPECT_EQ(norm("/public/%2E%2e/admin"), "/admin");
  EXPECT_EQ(norm("/public/.%2e/admin"), "/admin");
  EXPECT_EQ(norm("/a%2fb"), "/a%2Fb");  // an encoded slash is data, not a separator
  EXPECT_EQ(norm("/%7euser/%41"), "/~user/A");
  EXPECT_EQ(norm("/a%20b"), "/a%20b");
}

TEST(PathNormalizer, MergesSlashes) {
  EXPECT_EQ(norm("//admin"), "/admin");
  EXPECT_EQ(norm("/a//b///c/"), "/a/b/c/");
  EXPECT_EQ(norm("/"), "/");
}

TEST(PathNormalizer, Idempotent) {
  for (const char* p : {"/a/../b//c/./d/%2e%2E/e", "/x/%2F/y", "/%7E/../../q"}) {
    EXPECT_EQ(norm(norm(p)), norm(p)) << p;
  }
}

}  // namespace
}  // namespace sluice::http
