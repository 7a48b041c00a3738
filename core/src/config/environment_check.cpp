#include "mlbridge/config/environment_check.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "mlbridge/process/run_command.hpp"

namespace mlbridge::config {
namespace {

// argv[1] is "find" or "import"; each later argument names a package. Prints one JSON object
// with the Python version and, per package, its version or why it cannot be used. "find" locates
// a package without running it (find_spec); "import" imports it.
constexpr const char* kProbe = R"PY(
import importlib, importlib.util, json, sys
from importlib import metadata

def version_of(name, module):
    version = getattr(module, "__version__", None)
    if version is not None:
        return str(version)
    top = name.split(".")[0]
    for candidate in dict.fromkeys((top, top.replace("_", "-"))):
        try:
            return metadata.version(candidate)
        except Exception:
            pass
    try:
        for dist in metadata.packages_distributions().get(top, []):
            return metadata.version(dist)
    except Exception:
        pass
    return "unknown version"

report = {"python": sys.version.split()[0], "executable": sys.executable, "packages": {}}
deep = sys.argv[1] == "import"
for name in sys.argv[2:]:
    try:
        if deep:
            module = importlib.import_module(name)
        elif importlib.util.find_spec(name) is None:
            raise ModuleNotFoundError(f"No module named {name!r}")
        else:
            module = None
        report["packages"][name] = {"ok": True, "version": version_of(name, module)}
    except BaseException as exc:
        report["packages"][name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
print(json.dumps(report))
)PY";

}  // namespace

bool EnvironmentReport::ok() const {
  for (const auto& item : items) {
    if (!item.ok) return false;
  }
  return true;
}

std::string EnvironmentReport::problems() const {
  std::string text;
  for (const auto& item : items) {
    if (item.ok) continue;
    if (!text.empty()) text += "; ";
    text += item.what + ": " + item.detail;
  }
  return text;
}

EnvironmentReport check_environment(const EnvironmentRequirements& req) {
  EnvironmentReport report;
  report.bridge = req.bridge;

  std::error_code ec;
  if (std::filesystem::is_regular_file(req.script, ec)) {
    report.items.push_back({"script", true, req.script});
  } else {
    report.items.push_back(
        {"script", false, "'" + req.script + "' does not exist; check the bridge's script path"});
  }

  process::ProcessSpec spec;
  spec.executable = req.python;
  spec.args = {"-c", kProbe, req.package_check == PackageCheck::kImport ? "import" : "find"};
  spec.args.insert(spec.args.end(), req.required_packages.begin(), req.required_packages.end());
  spec.env = req.env;
  spec.working_dir = req.working_dir;
  auto probe = process::run_command(spec, req.timeout);
  if (!probe) {
    report.items.push_back({"python", false, probe.error().message});
  } else if (!probe->status.exited_cleanly()) {
    report.items.push_back(
        {"python", false, "'" + req.python + "' " + probe->status.describe() + ": " + probe->err});
  } else {
    auto parsed = nlohmann::json::parse(probe->out, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      report.items.push_back(
          {"python", false, "unexpected output from '" + req.python + "': " + probe->out});
    } else {
      report.items.push_back(
          {"python", true,
           parsed.value("python", "?") + " (" + parsed.value("executable", req.python) + ")"});
      for (const auto& name : req.required_packages) {
        const auto& entry = parsed["packages"][name];
        if (entry.value("ok", false)) {
          report.items.push_back({"package " + name, true, entry.value("version", "")});
        } else {
          report.items.push_back({"package " + name, false,
                                  entry.value("error", "not importable") +
                                      " (install it into the interpreter's environment, e.g. "
                                      "pip install " +
                                      name + ")"});
        }
      }
    }
  }

  for (const auto& name : req.required_env) {
    auto it = req.env.find(name);
    if (it != req.env.end() && !it->second.empty()) {
      report.items.push_back(
          {"env " + name, true, "set"});  // never print the value: it may be a secret
    } else {
      report.items.push_back(
          {"env " + name, false,
           "not set; export it and list it under env.pass, or set it in env.set"});
    }
  }
  return report;
}

}  // namespace mlbridge::config
