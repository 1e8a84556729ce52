#include "l7/stream_listener.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>

#include <string>
#include <vector>

#include "l4/tcp_proxy.h"
#include "l7/worker.h"

namespace sluice::l7 {

void start_tcp(Worker& worker, std::shared_ptr<WorkerView> view, Accepted a, int cluster_index) {
  if (cluster_index < 0) return;
  const auto& listener = view->snapshot->config->listeners[a.listener_index];
  auto* cluster = &view->clusters[cluster_index];
  l4::TcpJob job{std::move(a.socket), core::IpAddress::from_sockaddr(a.peer.data()),
                 a.peer.port(),       {},
                 &listener,           cluster->config};
  // Appends, not operator+ chains: GCC 12's -Wrestrict misfires on those at -O3.
  if (!job.client_ip.is_v4) job.client_text.push_back('[');
  job.client_text.append(job.client_ip.to_string());
  if (!job.client_ip.is_v4) job.client_text.push_back(']');
  job.client_text.push_back(':');
  job.client_text.append(std::to_string(a.peer.port()));
  job.pick = [&worker, cluster, client = job.client_ip](std::span<const uint32_t> tried) {
    return worker.pick_stream_endpoint(*cluster, client, tried);
  };
  job.note = [&worker, cluster](int index, bool failed) {
    worker.note_endpoint(*cluster, index, failed);
  };
  job.log = worker.stream_log();
  job.stats = view->stream_stats[a.listener_index];
  job.initial = std::move(a.initial);
  job.slot = std::move(a.slot);
  job.keep = std::move(view);  // the session keeps the view (config, balancer) alive
  l4::spawn_tcp_proxy(worker.io(), std::move(job));
}

void start_tls_passthrough(Worker& worker, std::shared_ptr<WorkerView> view, Accepted accepted) {
  asio::co_spawn(
      worker.io(),
      [&worker, view = std::move(view),
       a = std::move(accepted)]() mutable -> asio::awaitable<void> {
        const auto& listener = view->snapshot->config->listeners[a.listener_index];
        auto* stats = view->stream_stats[a.listener_index];
        std::string hello = std::move(a.initial);
        const char* why = "";
        auto sni =
            co_await l4::read_client_hello(a.socket, listener.timeouts.client_hello, &hello, &why);
        if (!sni) {
          stats->bad_client_hello.add();  // the socket closes here
          co_return;
        }
        static const std::vector<http::Header> kNoHeaders;
        RouteInput in{};
        in.headers = &kNoHeaders;
        in.sni = *sni;
        const CompiledRoute* route = view->snapshot->routers[a.listener_index]->match(in);
        if (!route) {
          stats->no_route.add();
          co_return;
        }
        a.initial = std::move(hello);
        const int cluster = static_cast<int>(route->cluster_index);
        start_tcp(worker, std::move(view), std::move(a), cluster);
      },
      asio::detached);
}

}  // namespace sluice::l7
