#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace sluice::core {

// Process-wide state kept per name (a cluster's or a listener's) for the life of the process, so
// that a reload does not forget what is in flight. Looked up on config changes, never per
// request.
template <typename T>
std::shared_ptr<T> shared_by_name(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<T>> all;
  std::lock_guard lock(mu);
  auto& slot = all[name];
  if (!slot) slot = std::make_shared<T>();
  return slot;
}

}  // namespace sluice::core
