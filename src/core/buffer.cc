#include "core/buffer.h"

#include <vector>

namespace sluice::core {
namespace {

struct ThreadBlocks {
  std::vector<char*> free;
  ~ThreadBlocks() {
    for (char* p : free) delete[] p;
  }
};

thread_local ThreadBlocks t_blocks;

}  // namespace

char* BlockCache::allocate(size_t n) {
  if (n == kBlockSize && !t_blocks.free.empty()) {
    char* p = t_blocks.free.back();
    t_blocks.free.pop_back();
    return p;
  }
  return new char[n];
}

void BlockCache::release(char* p, size_t n) {
  if (!p) return;
  if (n == kBlockSize && t_blocks.free.size() < kMaxBlocks) {
    t_blocks.free.push_back(p);
    return;
  }
  delete[] p;
}

}  // namespace sluice::core
