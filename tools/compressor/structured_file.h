// Reads the files users write by hand (recipes, batch manifests) as JSON or YAML into one JSON
// tree, so every reader validates one form. YAML is chosen by the extension (.yaml, .yml).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "compressor/core/status.h"

namespace compressor::cli {

using Json = nlohmann::ordered_json;

/// The file as a JSON tree. YAML plain scalars become booleans, numbers or null where they read
/// as such (true/false, 1.5, ~), quoted scalars stay strings. A syntax error names the file,
/// line and column.
StatusOr<Json> load_structured_file(const std::string& path);

/// Parses text already read (`origin` names it in errors); `yaml` picks the syntax.
StatusOr<Json> parse_structured_text(const std::string& text, const std::string& origin, bool yaml);

/// True when `path` ends in .yaml or .yml.
bool is_yaml_path(const std::string& path);

}  // namespace compressor::cli
