#pragma once
// A listener's block: protocol, address, codec, TLS termination, limits, timeouts, routes and
// their matches (checked here: regexes, CIDRs, names).
#include "config/yaml_reader.h"

namespace sluice::config {

// `index`: its place in the file, which names a listener that has no name.
Listener read_listener(YamlReader& r, const YAML::Node& node, size_t index);

}  // namespace sluice::config
