#include "program_options.hpp"

#include <algorithm>
#include <regex>
#include <set>

#include "json_checks.hpp"

namespace mlbridge::dspy_plugin {
namespace {

// dspy_support/programs.py MODULES, SPEC_ARGS, _ID.
const std::vector<std::string> kModules = {"predict", "chain_of_thought", "react", "best_of_n",
                                           "refine"};
const std::set<std::string> kKeys = {
    "program_id", "signature", "instructions", "inputs", "outputs",   "module", "tools",
    "max_iters",  "lookup",    "base_module",  "n",      "threshold", "reward", "init"};

bool valid_id(const std::string& id) {
  static const std::regex pattern("[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}");
  return std::regex_match(id, pattern);
}

std::vector<std::string> declared_modules(const json& code) {
  std::vector<std::string> modules;
  if (!code.is_object()) return modules;
  const auto found = code.find("modules");
  if (found == code.end() || !found->is_array()) return modules;
  for (const auto& module : *found) {
    if (module.is_string()) modules.push_back(module.get<std::string>());
  }
  return modules;
}

// The declared modules for a message: "a, b" or "none".
std::string listed_or_none(const std::vector<std::string>& names) {
  return names.empty() ? "none" : listed(names);
}

/// A problem when `ref`'s module is not one of `declared` (or a submodule of one).
void check_declared(const std::string& where, const std::string& ref,
                    const std::vector<std::string>& declared, std::vector<std::string>& problems) {
  const std::string module = ref.substr(0, ref.find(':'));
  const bool ok = std::any_of(declared.begin(), declared.end(), [&](const std::string& name) {
    return module == name || module.rfind(name + ".", 0) == 0;
  });
  if (!ok) {
    problems.push_back(where + " '" + ref + "': module '" + module +
                       "' is not in the bridge's code.modules (declared: " +
                       listed_or_none(declared) + "); add it there");
  }
}

void check_item(const json& item, const std::string& where,
                const std::vector<std::string>& declared, std::set<std::string>& ids,
                std::vector<std::string>& problems) {
  if (!item.is_object()) {
    problems.push_back(where + " must be a map of create_program arguments (got " + shown(item) +
                       ")");
    return;
  }
  const auto id = item.find("program_id");
  if (id == item.end() || !id->is_string() || !valid_id(id->get<std::string>())) {
    problems.push_back(where + ".program_id must be 1-128 letters, digits and _ . : @ - (got " +
                       (id == item.end() ? std::string("nothing") : shown(*id)) + ")");
  } else if (!ids.insert(id->get<std::string>()).second) {
    problems.push_back(where + ".program_id '" + id->get<std::string>() + "' is declared twice");
  }
  for (const auto& entry : item.items()) {
    if (kKeys.count(entry.key()) == 0) {
      problems.push_back(where + "." + entry.key() + " is not an argument of create_program");
    }
  }
  bool custom = false;
  if (const auto module = item.find("module"); module != item.end()) {
    if (!module->is_string()) {
      problems.push_back(where + ".module must be a string (got " + shown(*module) + ")");
    } else if (is_import_path(module->get<std::string>())) {
      custom = true;
      check_declared(where + ".module", module->get<std::string>(), declared, problems);
    } else if (std::find(kModules.begin(), kModules.end(), module->get<std::string>()) ==
               kModules.end()) {
      problems.push_back(where + ".module '" + module->get<std::string>() +
                         "' is neither a built-in module (predict, chain_of_thought, react, "
                         "best_of_n, refine) nor an import path ('package.module:Class')");
    }
  }
  const bool has_signature =
      item.contains("signature") || item.contains("inputs") || item.contains("outputs");
  if (!custom && !has_signature) {
    problems.push_back(where + " needs 'signature' (e.g. 'question -> answer')");
  }
  if (const auto signature = item.find("signature");
      signature != item.end() && signature->is_string() &&
      is_import_path(signature->get<std::string>())) {
    check_declared(where + ".signature", signature->get<std::string>(), declared, problems);
  }
  if (const auto init = item.find("init"); init != item.end()) {
    if (!init->is_object()) {
      problems.push_back(where + ".init must be a map of the module's constructor arguments");
    } else if (!custom) {
      problems.push_back(where +
                         ".init applies to your own module (module: 'package.module:Class')");
    }
  }
  if (const auto tools = item.find("tools"); tools != item.end()) {
    if (!tools->is_array()) {
      problems.push_back(where + ".tools must be a list of tool names or import paths");
      return;
    }
    for (std::size_t i = 0; i < tools->size(); ++i) {
      const json& tool = (*tools)[i];
      const std::string key = where + ".tools[" + std::to_string(i) + "]";
      if (!tool.is_string()) {
        problems.push_back(key + " must be a string (got " + shown(tool) + ")");
      } else if (is_import_path(tool.get<std::string>())) {
        check_declared(key, tool.get<std::string>(), declared, problems);
      }
    }
  }
}

}  // namespace

bool is_import_path(const std::string& text) {
  static const std::regex pattern(
      "[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_.]*");
  return std::regex_match(text, pattern);
}

std::vector<std::string> check_programs(const json& programs, const json& code) {
  if (programs.is_null()) return {};
  if (!programs.is_array()) {
    return {
        "options.programs must be a list of create_program arguments, each with its "
        "program_id (got " +
        shown(programs) + ")"};
  }
  std::vector<std::string> problems;
  std::set<std::string> ids;
  const auto declared = declared_modules(code);
  for (std::size_t i = 0; i < programs.size(); ++i) {
    check_item(programs[i], "options.programs[" + std::to_string(i) + "]", declared, ids, problems);
  }
  return problems;
}

}  // namespace mlbridge::dspy_plugin
