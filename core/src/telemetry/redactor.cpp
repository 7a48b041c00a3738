#include "mlbridge/telemetry/redactor.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace mlbridge::telemetry {
namespace {

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

bool Redactor::is_secret_name(std::string_view name) {
  // The Python SDK's SECRET_NAME: (^|_)(API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD)$.
  static constexpr std::array<std::string_view, 7> kSuffixes = {
      "APIKEY", "API_KEY", "KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD"};
  const std::string name_upper = upper(name);
  const std::string_view n = name_upper;
  return std::any_of(kSuffixes.begin(), kSuffixes.end(), [n](std::string_view suffix) {
    if (!n.ends_with(suffix)) return false;
    const std::size_t start = n.size() - suffix.size();
    return start == 0 || n[start - 1] == '_';
  });
}

Redactor Redactor::for_environment(const std::map<std::string, std::string>& env) {
  Redactor redactor;
  for (const auto& [name, value] : env) {
    if (value.size() >= kMinSecretLength && is_secret_name(name)) {
      redactor.secrets_.push_back(value);
    }
  }
  std::sort(redactor.secrets_.begin(), redactor.secrets_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return redactor;
}

std::string Redactor::redact(std::string text) const {
  for (const auto& secret : secrets_) {
    for (std::size_t at = text.find(secret); at != std::string::npos;
         at = text.find(secret, at + kRedacted.size())) {
      text.replace(at, secret.size(), kRedacted);
    }
  }
  return text;
}

std::size_t Redactor::safe_cut(std::string_view text, std::size_t at) const {
  std::size_t cut = std::min(at, text.size());
  for (bool moved = true; moved && cut < text.size();) {
    moved = false;
    for (const auto& secret : secrets_) {
      // Occurrences that start before the cut and end after it start in [cut - size + 1, cut).
      const std::size_t from = cut >= secret.size() ? cut - secret.size() + 1 : 0;
      for (std::size_t found = text.find(secret, from);
           found != std::string_view::npos && found < cut; found = text.find(secret, found + 1)) {
        if (found + secret.size() > cut) {
          cut = found + secret.size();
          moved = true;
        }
      }
    }
  }
  return cut;
}

}  // namespace mlbridge::telemetry
