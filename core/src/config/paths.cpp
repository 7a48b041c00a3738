#include "mlbridge/config/paths.hpp"

#include <filesystem>

namespace mlbridge::config {

std::string resolve_path(const std::string& root, const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty()) return path;
  fs::path resolved(path);
  if (resolved.is_relative()) {
    std::error_code ec;
    const fs::path base = root.empty() ? fs::current_path(ec) : fs::path(root);
    resolved = base / resolved;
  }
  std::string text = resolved.lexically_normal().string();
  // "a/b/." normalizes to "a/b/"; drop the trailing separator, but keep "/" itself.
  if (text.size() > 1 && text.back() == '/') text.pop_back();
  return text;
}

std::string resolve_program(const std::string& root, const std::string& program) {
  if (program.find('/') == std::string::npos) return program;
  return resolve_path(root, program);
}

}  // namespace mlbridge::config
