#pragma once
// What a worker asks of each connection it carries: the 100 ms deadline sweep, drain and abort.
// The worker keeps them in an intrusive list (no allocation per connection) and knows them only
// by this interface, so that the worker and the HTTP session do not include each other.
#include <chrono>

namespace sluice::l7 {

class WorkerSession {
 public:
  virtual void on_tick(std::chrono::steady_clock::time_point now) = 0;
  virtual void on_drain() = 0;  // stop taking requests; close when idle
  virtual void on_abort() = 0;  // close now

  WorkerSession* next_ = nullptr;
  WorkerSession* prev_ = nullptr;

 protected:
  ~WorkerSession() = default;
};

}  // namespace sluice::l7
