#pragma once
// YAML text -> validated Config. Collects every error, not just the first, each as
// `file:line:col: message`, so `sluice check` shows the whole list in one run.
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"

namespace sluice::config {

struct ConfigError {
  std::string file;
  int line = 0;  // 1-based
  int col = 0;   // 1-based
  std::string message;

  std::string to_string() const;
};

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when errors is non-empty
  std::vector<ConfigError> errors;
};

LoadResult load_config_file(const std::string& path);
LoadResult load_config_text(const std::string& text, const std::string& file_name);

}  // namespace sluice::config
