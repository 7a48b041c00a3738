#include "route_pattern.hpp"

#include <stdexcept>

namespace mlbridge::server {

RoutePattern::RoutePattern(std::string_view pattern) {
  if (pattern.empty() || pattern.front() != '/') {
    throw std::invalid_argument("route pattern '" + std::string(pattern) + "' must start with '/'");
  }
  std::string_view rest = pattern.substr(1);
  while (true) {
    const auto slash = rest.find('/');
    const std::string_view text = rest.substr(0, slash);
    Segment segment;
    if (!text.empty() && text.front() == '{' && text.back() == '}' && text.size() > 2) {
      segment.capture = true;
      ++capture_count_;
    } else if (text.find_first_of("{}") != std::string_view::npos) {
      throw std::invalid_argument("route pattern '" + std::string(pattern) +
                                  "': a capture must be a whole segment, e.g. '/x/{name}'");
    } else {
      segment.literal = std::string(text);
    }
    segments_.push_back(std::move(segment));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
}

bool RoutePattern::match(std::string_view path, std::vector<std::string_view>& captures) const {
  captures.clear();
  if (path.empty() || path.front() != '/') return false;
  std::string_view rest = path.substr(1);
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    const auto slash = rest.find('/');
    const bool last = i + 1 == segments_.size();
    // The last segment must end the path; every other must be followed by a '/'.
    if (last != (slash == std::string_view::npos)) return false;
    const std::string_view text = rest.substr(0, slash);
    const Segment& segment = segments_[i];
    if (segment.capture) {
      if (text.empty()) return false;
      captures.push_back(text);
    } else if (text != segment.literal) {
      return false;
    }
    if (!last) rest.remove_prefix(slash + 1);
  }
  return true;
}

}  // namespace mlbridge::server
