#include "shape_args.hpp"

#include <stdexcept>
#include <string>

namespace mlbridge::dspy_plugin {

json shape_dspy_args(std::string_view command, json args) {
  if (command != "configure_lm" && command != "dspy:configure_lm") return args;
  if (!args.is_object()) return args;
  for (const char* secret : {"api_key", "key"}) {
    if (args.contains(secret)) {
      throw std::invalid_argument(
          std::string("configure_lm: '") + secret +
          "' refused: API keys never travel in requests; pass 'api_key_env', the name of the "
          "environment variable that holds the key (the bridge's env.pass must let it through)");
    }
  }
  return args;
}

}  // namespace mlbridge::dspy_plugin
