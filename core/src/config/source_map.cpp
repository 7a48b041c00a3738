#include "mlbridge/config/source_map.hpp"

namespace mlbridge::config {
namespace {

std::string format_position(const std::string& file, std::pair<int, int> position) {
  std::string text = std::to_string(position.first) + ":" + std::to_string(position.second);
  return file.empty() ? text : file + ":" + text;
}

}  // namespace

std::string SourceMap::where(const std::string& pointer) const {
  std::string current = pointer;
  while (!current.empty()) {
    if (auto it = positions.find(current); it != positions.end()) {
      return format_position(file, it->second);
    }
    current.erase(current.rfind('/'));
  }
  return file;
}

std::string SourceMap::where_key(const std::string& pointer) const {
  if (auto it = key_positions.find(pointer); it != key_positions.end()) {
    return format_position(file, it->second);
  }
  return where(pointer);
}

std::string append_pointer(const std::string& base, const std::string& token) {
  std::string out = base;
  out += '/';
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace mlbridge::config
