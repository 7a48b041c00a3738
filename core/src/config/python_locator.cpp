#include "mlbridge/config/python_locator.hpp"

#include <cstdlib>
#include <filesystem>

namespace mlbridge::config {

std::string default_python(std::string_view project_root) {
  if (const char* configured = std::getenv("MLBRIDGE_PYTHON"); configured && *configured) {
    return configured;
  }
  const auto venv_python = std::filesystem::path(project_root) / ".venv" / "bin" / "python";
  std::error_code ec;
  if (std::filesystem::exists(venv_python, ec)) return venv_python.string();
  return "python3";
}

}  // namespace mlbridge::config
