#pragma once
// A per-exchange store for the header names and values that a codec or a filter makes up (a
// joined X-Forwarded-For, a rewritten Location): copies live until the exchange ends, and most
// exchanges need none, so the first block is only allocated on the first copy. Views handed out
// stay valid until reset(); blocks never move.
#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

namespace sluice::http {

class Arena {
 public:
  static constexpr size_t kBlockSize = 4096;

  Arena() = default;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // A copy of `text` that lives until reset().
  std::string_view copy(std::string_view text);
  // Concatenations, written in place: no temporary string.
  std::string_view join(std::string_view a, std::string_view b, std::string_view c = {},
                        std::string_view d = {});
  // Everything handed out is dead; the first block is kept for the next exchange.
  void reset();
  size_t blocks() const { return full_.size() + (current_ ? 1 : 0); }

 private:
  char* allocate(size_t n);

  std::unique_ptr<char[]> current_;            // the block being filled, kept by reset()
  std::vector<std::unique_ptr<char[]>> full_;  // filled blocks, and values of their own
  char* next_ = nullptr;
  size_t left_ = 0;
};

}  // namespace sluice::http
