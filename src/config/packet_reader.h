#pragma once
// The packet tier's block: interface, gateway, source and the VIPs with their reals.
#include "config/yaml_reader.h"

namespace sluice::config {

PacketTier read_packet(YamlReader& r, const YAML::Node& node);

}  // namespace sluice::config
