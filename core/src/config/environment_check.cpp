#include "mlbridge/config/environment_check.hpp"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "mlbridge/process/python_traceback.hpp"
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

// argv[1] is the bridge script. Loads it as a module under a name other than "__main__", so its
// `if __name__ == "__main__": XBridge.main()` does not run, with the script's directory first on
// sys.path as when Python runs the script itself. On an exception it prints the traceback from
// the script's first frame on (the probe's and importlib's frames are noise to the reader; a
// SyntaxError of the script has none, and prints as Python prints it for a script) and exits 1.
constexpr const char* kImportProbe = R"PY(
import importlib.util, os, sys, traceback
path = os.path.abspath(sys.argv[1])
sys.argv = [path]
sys.path[0] = os.path.dirname(path)
spec = importlib.util.spec_from_file_location("mlbridge_checked_bridge", path)
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
try:
    spec.loader.exec_module(module)
except Exception as exc:
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != path:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)
    sys.exit(1)
)PY";

// argv[1] is the number N of code paths, then N paths, then the code modules. Puts the paths first
// on sys.path in order, as the SDK does at a worker's start (mlbridge/user_code.py), imports each
// module and prints one JSON object: per module, ok or the error line and its traceback.
constexpr const char* kCodeProbe = R"PY(
import importlib, json, sys, traceback
count = int(sys.argv[1])
paths, modules = sys.argv[2:2 + count], sys.argv[2 + count:]
sys.path[0:0] = paths
report = {}
for name in modules:
    try:
        importlib.import_module(name)
        report[name] = {"ok": True}
    except BaseException as exc:
        report[name] = {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}".splitlines()[0],
            "traceback": "".join(traceback.format_exception(exc)),
        }
print(json.dumps(report))
)PY";

std::vector<CheckItem> import_code_modules(const EnvironmentRequirements& req) {
  process::ProcessSpec spec;
  spec.executable = req.python;
  spec.args = {"-c", kCodeProbe, std::to_string(req.code_paths.size())};
  spec.args.insert(spec.args.end(), req.code_paths.begin(), req.code_paths.end());
  spec.args.insert(spec.args.end(), req.code_modules.begin(), req.code_modules.end());
  spec.env = req.env;
  spec.working_dir = req.working_dir;
  auto probe = process::run_command(spec, req.timeout);
  std::string failure;
  if (!probe) {
    failure = probe.error().category == ErrorCategory::kTimeout
                  ? "importing the code modules did not finish within timeouts.startup_ms (" +
                        std::to_string(req.timeout.count()) +
                        " ms): one hangs at import, so the workers would never start; move "
                        "blocking work out of module level or raise timeouts.startup_ms"
                  : probe.error().message;
  } else if (!probe->status.exited_cleanly()) {
    failure = "'" + req.python + "' " + probe->status.describe() +
              " while importing the code modules" + (probe->err.empty() ? "" : ": " + probe->err);
  }
  nlohmann::json parsed;
  if (failure.empty()) {
    parsed = nlohmann::json::parse(probe->out, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      failure = "unexpected output from '" + req.python + "': " + probe->out;
    }
  }
  std::vector<CheckItem> items;
  for (const auto& name : req.code_modules) {
    const std::string what = "code module " + name;
    if (!failure.empty()) {
      items.push_back({what, false, failure});
      continue;
    }
    const auto& entry = parsed[name];
    if (entry.value("ok", false)) {
      items.push_back({what, true, "imported"});
    } else {
      items.push_back({what, false,
                       "failed at import: " + entry.value("error", std::string("unknown error")) +
                           " (traceback below); fix the module, or code.paths if it was not "
                           "found, and install what it imports into the environment of " +
                           req.python,
                       entry.value("traceback", std::string())});
    }
  }
  return items;
}

CheckItem import_script(const EnvironmentRequirements& req) {
  constexpr const char* kWhat = "script import";
  process::ProcessSpec spec;
  spec.executable = req.python;
  spec.args = {"-c", kImportProbe, req.script};
  spec.env = req.env;
  spec.working_dir = req.working_dir;
  auto probe = process::run_command(spec, req.timeout);
  if (!probe) {
    if (probe.error().category == ErrorCategory::kTimeout) {
      return {kWhat, false,
              "importing " + req.script + " did not finish within timeouts.startup_ms (" +
                  std::to_string(req.timeout.count()) +
                  " ms): the script hangs at import, so its workers would never start; the "
                  "interpreter was killed. Move slow or blocking work (downloads, locks, "
                  "input()) out of module level into initialize(), or raise timeouts.startup_ms"};
    }
    return {kWhat, false, probe.error().message};
  }
  if (probe->status.exited_cleanly()) {
    return {kWhat, true, "imported as a module (its main() was not run)"};
  }
  if (auto traceback = process::find_python_traceback(probe->err)) {
    return {kWhat, false,
            "the bridge script failed at import: " + traceback->exception +
                " (traceback below); fix the script or install what it imports into the "
                "environment of " +
                req.python,
            std::move(traceback->text)};
  }
  return {kWhat, false,
          "'" + req.python + "' " + probe->status.describe() + " while importing " + req.script +
              (probe->err.empty() ? "" : ": " + probe->err)};
}

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

  for (const auto& path : req.code_paths) {
    if (std::filesystem::is_directory(path, ec)) {
      report.items.push_back({"code path", true, path});
    } else {
      report.items.push_back(
          {"code path", false,
           "'" + path +
               "' is not an existing directory; fix the bridge's code.paths (relative paths "
               "resolve against host.root)"});
    }
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

  const bool python_ok = std::any_of(report.items.begin(), report.items.end(),
                                     [](const auto& i) { return i.what == "python" && i.ok; });
  const bool script_ok = std::any_of(report.items.begin(), report.items.end(),
                                     [](const auto& i) { return i.what == "script" && i.ok; });
  if (req.import_script && python_ok && script_ok) report.items.push_back(import_script(req));
  if (req.import_script && python_ok && !req.code_modules.empty()) {
    for (auto& item : import_code_modules(req)) report.items.push_back(std::move(item));
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
