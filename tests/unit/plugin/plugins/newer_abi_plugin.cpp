// A plugin written against the raw C ABI (no SDK) that claims ABI major 99: the host must reject
// it after reading the header and before calling anything else.

#include <mlbridge/sdk/plugin_abi.h>

#include <cstdlib>

namespace {

int explode(const mlbridge_host_logger*) {
  std::abort();  // must never be called
}

const mlbridge_plugin_v1 kTable = {
    99,
    0,
    sizeof(mlbridge_plugin_v1),
    "test_newer_abi",
    "9.9.9",
    "future",
    "From the future",
    &explode,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
};

}  // namespace

extern "C" MLBRIDGE_PLUGIN_EXPORT const mlbridge_plugin_v1* mlbridge_plugin_entry(void) {
  return &kTable;
}
