// An adapter without the MLBRIDGE_PLUGIN(ForgetfulAdapter) line that would export it.

#include <mlbridge/sdk/plugin.hpp>

class ForgetfulAdapter : public mlbridge::sdk::Adapter {
 public:
  mlbridge::sdk::PluginInfo info() const override {
    return {"forgetful", "1.0.0", "none", "Never loads: its entry point is missing"};
  }
};
