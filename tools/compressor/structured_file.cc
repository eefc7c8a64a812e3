#include "structured_file.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace compressor::cli {
namespace {

/// A YAML plain scalar as JSON: null, a boolean, an integer, a number, or else the string.
Json plain_scalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  const char* begin = s.c_str();
  char* end = nullptr;
  errno = 0;
  const long long i = std::strtoll(begin, &end, 10);
  if (errno == 0 && end == begin + s.size()) return i;
  errno = 0;
  const double d = std::strtod(begin, &end);
  if (errno == 0 && end == begin + s.size() && s.find_first_of("xXnN") == std::string::npos) {
    return d;
  }
  return s;
}

StatusOr<Json> to_json(const YAML::Node& node, const std::string& origin) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return Json(nullptr);
    case YAML::NodeType::Scalar:
      // yaml-cpp tags a quoted scalar "!" and a plain one "?".
      return node.Tag() == "!" ? Json(node.Scalar()) : plain_scalar(node.Scalar());
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) {
        COMPRESSOR_ASSIGN_OR_RETURN(Json value, to_json(item, origin));
        out.push_back(std::move(value));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return invalid_argument(origin + ":" + std::to_string(kv.first.Mark().line + 1) +
                                  ": a key must be a plain name");
        }
        const std::string key = kv.first.Scalar();
        if (out.contains(key)) {
          return invalid_argument(origin + ":" + std::to_string(kv.first.Mark().line + 1) +
                                  ": key '" + key + "' given twice");
        }
        COMPRESSOR_ASSIGN_OR_RETURN(Json value, to_json(kv.second, origin));
        out[key] = std::move(value);
      }
      return out;
    }
  }
  return Json(nullptr);
}

}  // namespace

bool is_yaml_path(const std::string& path) {
  const auto dot = path.rfind('.');
  if (dot == std::string::npos) return false;
  const std::string ext = path.substr(dot);
  return ext == ".yaml" || ext == ".yml";
}

StatusOr<Json> parse_structured_text(const std::string& text, const std::string& origin,
                                     bool yaml) {
  if (yaml) {
    try {
      return to_json(YAML::Load(text), origin);
    } catch (const YAML::Exception& e) {
      return invalid_argument(origin + ":" + std::to_string(e.mark.line + 1) + ":" +
                              std::to_string(e.mark.column + 1) + ": not valid YAML: " + e.msg);
    }
  }
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // nlohmann's message starts "[json.exception.parse_error.101] parse error at line L, ...".
    std::string what = e.what();
    const auto at = what.find("] ");
    return invalid_argument(
        origin + ": not valid JSON: " + (at == std::string::npos ? what : what.substr(at + 2)));
  }
}

StatusOr<Json> load_structured_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error(path + ": cannot open");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return io_error(path + ": cannot read");
  return parse_structured_text(text.str(), path, is_yaml_path(path));
}

}  // namespace compressor::cli
