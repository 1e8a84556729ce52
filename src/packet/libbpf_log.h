#pragma once
// libbpf prints to stderr by default, debug lines included; this keeps its warnings (verifier
// logs on a failed load) and sends them through sluice's log.
namespace sluice::packet {
void route_libbpf_log();
}
