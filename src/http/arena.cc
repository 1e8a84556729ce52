#include "http/arena.h"

#include <cstring>

namespace sluice::http {

char* Arena::allocate(size_t n) {
  if (n > kBlockSize / 2) {  // a large value gets a block of its own; the current one goes on
    full_.push_back(std::make_unique_for_overwrite<char[]>(n));
    return full_.back().get();
  }
  if (n > left_) {
    if (current_) full_.push_back(std::move(current_));
    current_ = std::make_unique_for_overwrite<char[]>(kBlockSize);
    next_ = current_.get();
    left_ = kBlockSize;
  }
  char* p = next_;
  next_ += n;
  left_ -= n;
  return p;
}

std::string_view Arena::copy(std::string_view text) { return join(text, {}); }

std::string_view Arena::join(std::string_view a, std::string_view b, std::string_view c,
                             std::string_view d) {
  const size_t n = a.size() + b.size() + c.size() + d.size();
  if (n == 0) return {};
  char* p = allocate(n);
  char* w = p;
  for (auto part : {a, b, c, d}) {
    if (!part.empty()) std::memcpy(w, part.data(), part.size());
    w += part.size();
  }
  return {p, n};
}

void Arena::reset() {
  full_.clear();
  if (current_) {
    next_ = current_.get();
    left_ = kBlockSize;
  }
}

}  // namespace sluice::http
