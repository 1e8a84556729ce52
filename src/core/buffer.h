#pragma once
// A contiguous byte buffer with a read cursor, for protocol heads and body relaying. It grows
// (doubling) up to a hard maximum and compacts instead of growing when the consumed prefix is
// large, so a connection's memory is bounded by `max_capacity`. Storage is not zero-filled.
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

namespace sluice::core {

class Buffer {
 public:
  Buffer(size_t initial_capacity, size_t max_capacity)
      : initial_(initial_capacity),
        max_(max_capacity < initial_capacity ? initial_capacity : max_capacity) {}

  std::string_view data() const { return {data_.get() + begin_, end_ - begin_}; }
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
    if (!data_) allocate(initial_);
    if (capacity_ - end_ >= min_free) return {data_.get() + end_, capacity_ - end_};
    if (begin_ > 0) {
      std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (capacity_ - end_ < min_free && capacity_ < max_) {
      size_t want = capacity_ * 2;
      while (want - end_ < min_free && want < max_) want *= 2;
      grow(want < max_ ? want : max_);
    }
    return {data_.get() + end_, capacity_ - end_};
  }
  void commit(size_t n) { end_ += n; }

  void append(std::string_view s) {
    auto span = prepare(s.size());
    size_t n = s.size() < span.size() ? s.size() : span.size();
    std::memcpy(span.data(), s.data(), n);
    end_ += n;
  }
  // Returns to the initial capacity (e.g. after a large head), keeping unread bytes.
  void shrink() {
    if (capacity_ <= initial_ || size() > initial_) return;
    auto fresh = std::make_unique_for_overwrite<char[]>(initial_);
    std::memcpy(fresh.get(), data_.get() + begin_, size());
    end_ = size();
    begin_ = 0;
    data_ = std::move(fresh);
    capacity_ = initial_;
  }

 private:
  void allocate(size_t n) {
    data_ = std::make_unique_for_overwrite<char[]>(n);
    capacity_ = n;
  }
  void grow(size_t n) {
    auto fresh = std::make_unique_for_overwrite<char[]>(n);
    std::memcpy(fresh.get(), data_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    data_ = std::move(fresh);
    capacity_ = n;
  }

  std::unique_ptr<char[]> data_;
  size_t initial_;
  size_t max_;
  size_t capacity_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace sluice::core
