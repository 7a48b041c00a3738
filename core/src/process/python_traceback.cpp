#include "mlbridge/process/python_traceback.hpp"

#include <vector>

namespace mlbridge::process {
namespace {

constexpr std::string_view kHeader = "Traceback (most recent call last):";
constexpr std::string_view kFrame = "  File \"";

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (newline == std::string_view::npos) break;
    text.remove_prefix(newline + 1);
  }
  return lines;
}

bool starts_with(std::string_view line, std::string_view prefix) {
  return line.substr(0, prefix.size()) == prefix;
}

// "pkg.mod.Error: message" -> "Error"; "KeyboardInterrupt" -> itself.
std::string class_name(std::string_view exception_line) {
  std::string_view name = exception_line.substr(0, exception_line.find(':'));
  if (const auto dot = name.rfind('.'); dot != std::string_view::npos) name.remove_prefix(dot + 1);
  return std::string(name);
}

}  // namespace

std::optional<PythonTraceback> find_python_traceback(std::string_view stderr_text) {
  const auto lines = split_lines(stderr_text);
  std::size_t first = lines.size(), last_header = lines.size();
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i] == kHeader) {
      if (first == lines.size()) first = i;
      last_header = i;
    }
  }
  if (first == lines.size()) {
    // A SyntaxError in the script run as __main__ has frames but no header.
    for (std::size_t i = 0; i < lines.size() && first == lines.size(); ++i) {
      if (starts_with(lines[i], kFrame)) first = last_header = i;
    }
  }
  if (first == lines.size()) return std::nullopt;
  // The exception line is the first one after the last header that is not part of a frame
  // (frames and their source lines are indented).
  std::string_view exception;
  for (std::size_t i = last_header + 1; i < lines.size() && exception.empty(); ++i) {
    if (!lines[i].empty() && lines[i].front() != ' ' && lines[i].front() != '\t') {
      exception = lines[i];
    }
  }
  if (exception.empty()) return std::nullopt;  // cut short: no exception named
  PythonTraceback traceback;
  for (std::size_t i = first; i < lines.size(); ++i) {
    traceback.text.append(lines[i]).push_back('\n');
  }
  traceback.exception = std::string(exception);
  traceback.type = class_name(exception);
  return traceback;
}

}  // namespace mlbridge::process
