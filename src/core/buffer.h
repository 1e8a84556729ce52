#pragma once
// A contiguous byte buffer with a read cursor, for protocol heads and body relaying. It grows
// (doubling) up to a hard maximum and compacts instead of growing when the consumed prefix is
// large, so a connection's memory is bounded by `max_capacity`. Storage is not zero-filled.
#include <cstring>
#include <span>
#include <string_view>
#include <utility>

namespace sluice::core {

// Blocks of kBlockSize freed on this thread, kept for the next connection. malloc of this size
// bypasses glibc's per-thread caches and free() consolidates; recycling them took ~8% off the
// user-space cost of a short connection (bench/callgrind_http1.sh, MODE=close).
class BlockCache {
 public:
  static constexpr size_t kBlockSize = 16 * 1024;
  static constexpr size_t kMaxBlocks = 256;  // 4 MiB per thread at most

  static char* allocate(size_t n);
  static void release(char* p, size_t n);
};

class Buffer {
 public:
  Buffer(size_t initial_capacity, size_t max_capacity)
      : initial_(initial_capacity),
        max_(max_capacity < initial_capacity ? initial_capacity : max_capacity) {}
  ~Buffer() { BlockCache::release(data_, capacity_); }
  Buffer(Buffer&& other) noexcept { *this = std::move(other); }
  Buffer& operator=(Buffer&& other) noexcept {
    if (this != &other) {
      BlockCache::release(data_, capacity_);
      data_ = std::exchange(other.data_, nullptr);
      initial_ = other.initial_;
      max_ = other.max_;
      capacity_ = std::exchange(other.capacity_, 0);
      begin_ = std::exchange(other.begin_, 0);
      end_ = std::exchange(other.end_, 0);
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  std::string_view data() const { return {data_ + begin_, end_ - begin_}; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  size_t capacity() const { return capacity_; }
  size_t max_capacity() const { return max_; }

  void consume(size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  void clear() { begin_ = end_ = 0; }

  // Free space at the tail, at least `min_free` bytes if the maximum allows. Moves data (so
  // views into it are invalidated) only when there is no room at the tail.
  std::span<char> prepare(size_t min_free = 1) {
    if (!data_) resize_storage(initial_);
    if (capacity_ - end_ >= min_free) return {data_ + end_, capacity_ - end_};
    if (begin_ > 0) {
      std::memmove(data_, data_ + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (capacity_ - end_ < min_free && capacity_ < max_) {
      size_t want = capacity_ * 2;
      while (want - end_ < min_free && want < max_) want *= 2;
      resize_storage(want < max_ ? want : max_);
    }
    return {data_ + end_, capacity_ - end_};
  }
  void commit(size_t n) { end_ += n; }

  void append(std::string_view s) {
    auto span = prepare(s.size());
    size_t n = s.size() < span.size() ? s.size() : span.size();
    std::memcpy(span.data(), s.data(), n);
    end_ += n;
  }
  // Changes the bound for future growth; storage already grown beyond it is kept.
  void set_max_capacity(size_t max_capacity) {
    max_ = max_capacity < initial_ ? initial_ : max_capacity;
  }
  // Returns to the initial capacity (e.g. after a large head), keeping unread bytes.
  void shrink() {
    if (capacity_ <= initial_ || size() > initial_) return;
    resize_storage(initial_);
  }

 private:
  void resize_storage(size_t n) {
    char* fresh = BlockCache::allocate(n);
    if (data_) std::memcpy(fresh, data_ + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    BlockCache::release(data_, capacity_);
    data_ = fresh;
    capacity_ = n;
  }

  char* data_ = nullptr;
  size_t initial_ = 0;
  size_t max_ = 0;
  size_t capacity_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace sluice::core
