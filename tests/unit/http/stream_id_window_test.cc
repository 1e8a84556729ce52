// RFC 9113 5.1.1: client stream ids increase; a HEADERS frame on a lower id that was never
// opened is a connection error.
#include "http/stream_id_window.h"

#include <gtest/gtest.h>

namespace sluice::http {
namespace {

TEST(StreamIdWindow, IncreasingIdsAndTrailersOnOpenedOnes) {
  StreamIdWindow w;
  EXPECT_TRUE(w.on_headers(1));
  EXPECT_TRUE(w.on_headers(3));
  EXPECT_TRUE(w.on_headers(9));
  EXPECT_TRUE(w.on_headers(1));  // trailers on a stream opened before
  EXPECT_TRUE(w.on_headers(9));
  EXPECT_TRUE(w.on_headers(3));
}

TEST(StreamIdWindow, ALowerIdNeverOpenedIsRefused) {
  StreamIdWindow w;
  EXPECT_TRUE(w.on_headers(5));
  EXPECT_FALSE(w.on_headers(3));  // h2spec http2/5.1.1 case 2
  EXPECT_FALSE(w.on_headers(1));
  EXPECT_TRUE(w.on_headers(7));
  EXPECT_TRUE(w.on_headers(5));
}

TEST(StreamIdWindow, SkippedIdsAreClosedAcrossTheRing) {
  StreamIdWindow w;
  // Fill the window, then jump: the bits of the skipped ids must not keep older "seen" marks.
  for (int32_t id = 1; id < 2 * static_cast<int32_t>(StreamIdWindow::kWindow); id += 2)
    EXPECT_TRUE(w.on_headers(id));
  const int32_t last = 2 * static_cast<int32_t>(StreamIdWindow::kWindow) - 1;
  EXPECT_TRUE(w.on_headers(last + 200));
  EXPECT_FALSE(w.on_headers(last + 2));  // skipped: shares a bit with id 201, seen long ago
  EXPECT_TRUE(w.on_headers(last));
  // A jump past the whole window forgets everything; ids too old to know are let through.
  EXPECT_TRUE(w.on_headers(last + 200 + 4 * static_cast<int32_t>(StreamIdWindow::kWindow)));
  EXPECT_FALSE(w.on_headers(last + 202 + 4 * static_cast<int32_t>(StreamIdWindow::kWindow) - 4));
  EXPECT_TRUE(w.on_headers(1));
}

}  // namespace
}  // namespace sluice::http
