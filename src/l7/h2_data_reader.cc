#include "l7/h2_data_reader.h"

#include <algorithm>

namespace sluice::l7 {
namespace {
constexpr size_t kIoChunk = 16 * 1024;
asio::awaitable<BodyRead> end_now() { co_return BodyRead::end(); }
}  // namespace

H2DataReader::H2DataReader() : in_(kIoChunk, kIoChunk) {}

void H2DataReader::start(http::BodyKind kind, uint64_t content_length) {
  kind_ = kind;
  remaining_ = kind == http::BodyKind::kContentLength ? content_length : 0;
}

BodyRead H2DataReader::piece(size_t n) {
  in_.commit(n);
  auto data = in_.data();
  if (kind_ != http::BodyKind::kContentLength) return BodyRead::piece(data);
  data = data.substr(0, static_cast<size_t>(std::min<uint64_t>(data.size(), remaining_)));
  remaining_ -= data.size();
  return BodyRead::piece(data, remaining_ == 0);
}

BodyRead H2DataReader::at_hand(h2_bridge::End& end) {
  in_.clear();
  if (kind_ == http::BodyKind::kNone) return BodyRead::end();
  auto space = in_.prepare(kIoChunk);
  return piece(end.read_now(space.data(), space.size()));
}

asio::awaitable<BodyRead> H2DataReader::read(h2_bridge::End& end) {
  if (kind_ == http::BodyKind::kNone ||
      (kind_ == http::BodyKind::kContentLength && remaining_ == 0)) {
    return end_now();
  }
  return read_data(end);
}

asio::awaitable<BodyRead> H2DataReader::read_data(h2_bridge::End& end) {
  in_.clear();
  auto space = in_.prepare(kIoChunk);
  auto [ec, n] = co_await end.read(space.data(), space.size());
  // The end of the stream ends a body of unknown length; one with a length ends at its length.
  if (ec == asio::error::eof && kind_ != http::BodyKind::kContentLength) co_return BodyRead::end();
  if (ec) co_return BodyRead::failed();
  co_return piece(n);
}

}  // namespace sluice::l7
