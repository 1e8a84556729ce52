#pragma once
// The stream tier's listeners on a worker: a `tcp` listener's connection proxied to its cluster,
// and a `tls_passthrough` one routed by the SNI of its ClientHello (never decrypted).
#include <memory>

#include "l7/acceptor.h"

namespace sluice::l7 {

class Worker;
struct WorkerView;

// `cluster_index` in `view`; a negative one closes the connection.
void start_tcp(Worker& worker, std::shared_ptr<WorkerView> view, Accepted accepted,
               int cluster_index);
void start_tls_passthrough(Worker& worker, std::shared_ptr<WorkerView> view, Accepted accepted);

}  // namespace sluice::l7
