#pragma once
// Accepting on a listener: admission (the listener's and the client address's connection limits,
// trusted PROXY sources and their header), then the handler of the listener's protocol, looked up
// in one table (acceptor.cc): HTTP sessions, TCP proxying, TLS passthrough by SNI.
#include <asio/ip/tcp.hpp>

#include <string>

#include "core/client_limiter.h"

namespace sluice::l7 {

class Worker;

// A connection accepted and admitted, as its protocol's handler gets it.
struct Accepted {
  asio::ip::tcp::socket socket;
  asio::ip::tcp::endpoint peer;  // the client: from a PROXY header when there was one
  int listener_index = -1;       // in the worker's view; -1 when the listener left it
  std::string listener_name;
  core::ClientSlot slot;  // the limits' share, released when the connection ends
  std::string initial;    // bytes read before the handler (those after a PROXY header)
};

// Accepts on `acceptor` until it is closed (the worker owns it and closes it first).
void accept_on(Worker& worker, asio::ip::tcp::acceptor* acceptor, std::string listener_name);

}  // namespace sluice::l7
