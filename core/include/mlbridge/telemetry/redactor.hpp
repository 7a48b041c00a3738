#pragma once

/// @file
/// Keeps secrets out of what the host says about a worker: its stderr lines (logged and kept for
/// error reports), its `log` frames and the message and traceback of its errors. The secrets are
/// the values of the worker's environment variables whose names say they are secrets
/// (`*_API_KEY`, `*_TOKEN`, `*_SECRET`, `*_PASSWORD`, ...; the same rule as the Python SDK's
/// mlbridge.secrets), so a key given to a bridge through `env.pass` or `env.set` is blanked out
/// even when a C library writes it straight to fd 2.
/// Immutable after construction: any thread may call redact().

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace mlbridge::telemetry {

class Redactor {
 public:
  /// What a secret becomes.
  static constexpr std::string_view kRedacted = "[REDACTED]";
  /// Shorter values are not secrets to blank out: they would match ordinary text.
  static constexpr std::size_t kMinSecretLength = 8;

  Redactor() = default;
  /// The secrets of an environment (name → value), chosen by name as described above.
  static Redactor for_environment(const std::map<std::string, std::string>& env);

  /// Whether a variable of that name holds a secret.
  static bool is_secret_name(std::string_view name);

  /// `text` with every secret replaced by kRedacted (longest secrets first).
  std::string redact(std::string text) const;

  /// The length of the longest secret; 0 without secrets. A reader of a stream that must cut it
  /// (a line too long to keep whole) holds back this many bytes minus one: a secret that starts
  /// in what it lets go is then wholly inside it.
  std::size_t longest_secret() const { return secrets_.empty() ? 0 : secrets_.front().size(); }

  /// The first position at or after `at` where `text` may be cut without splitting a secret
  /// that occurs in it: `at` itself unless an occurrence spans it, then that occurrence's end
  /// (repeated while occurrences overlap). Redacting the two parts apart then blanks what
  /// redacting `text` whole would. At most text.size().
  std::size_t safe_cut(std::string_view text, std::size_t at) const;

  bool empty() const { return secrets_.empty(); }

 private:
  std::vector<std::string> secrets_;  // longest first
};

}  // namespace mlbridge::telemetry
