/*
 * mlbridge plugin ABI: the C contract between the mlbridge host and a framework adapter plugin
 * (a shared library named libmlbridge_<name>.so).
 *
 * Pure C (C99 and later, and any C++); no mlbridge, STL or nlohmann types cross this line. C++
 * authors include <mlbridge/sdk/plugin.hpp> and write one macro instead of using this directly;
 * a plugin written in C, Rust or anything that can export a C symbol uses this header alone.
 *
 * The contract
 * ------------
 * - The plugin exports exactly one symbol, `mlbridge_plugin_entry`, returning a pointer to a
 *   static `mlbridge_plugin_v1` table. Build with hidden visibility and a version script that
 *   exports only `mlbridge_plugin_*` (mlbridge_add_plugin() in CMake does both).
 * - The first three fields (abi_major, abi_minor, struct_size) keep their place in every ABI
 *   version. The host reads them BEFORE it calls anything else, rejects a table whose major is
 *   not its own (a newer major means: rebuild the plugin against the host's SDK), and then copies
 *   min(struct_size, sizeof(its own table)) bytes into a zero-filled table.
 * - The table only grows at the end. A minor version adds fields after the last one; a field
 *   the plugin does not know (beyond its struct_size) is therefore NULL/0 on the host side, and
 *   the host treats a NULL hook as "use the default behaviour" (described on each hook). No field
 *   is ever removed, reordered or retyped without a new major.
 * - Structured data crosses as UTF-8 JSON text, NUL-terminated.
 * - Exceptions, longjmps and panics never cross this boundary: every hook catches its own and
 *   returns a status with a message instead.
 * - Threading: after set_logger has returned, the host may call every hook from any thread, and
 *   concurrently; hooks must be thread-safe (they usually only read constant data).
 * - Lifetime: the host never unloads a plugin library while it runs, so static data of the
 *   plugin may be handed out for the whole process lifetime.
 *
 * Ownership (see the OWNERSHIP: line on every pointer)
 * - A string the plugin returns through a `char** ..._out` parameter is allocated by the plugin
 *   and owned by the host until the host hands it back through `free_string`, exactly once. The
 *   plugin sets each out parameter to NULL or to such a string; the host sets them to NULL before
 *   each call.
 * - A `const char*` argument the host passes is borrowed for the duration of the call only.
 */

#ifndef MLBRIDGE_SDK_PLUGIN_ABI_H
#define MLBRIDGE_SDK_PLUGIN_ABI_H

#include <stdint.h>

/* The ABI this header describes. A host accepts plugins of its own major and any minor. */
#define MLBRIDGE_PLUGIN_ABI_MAJOR 1
#define MLBRIDGE_PLUGIN_ABI_MINOR 1

/* The one symbol a plugin exports. */
#define MLBRIDGE_PLUGIN_ENTRY_SYMBOL "mlbridge_plugin_entry"

#if defined(_WIN32)
#define MLBRIDGE_PLUGIN_EXPORT __declspec(dllexport)
#else
#define MLBRIDGE_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes returned by every hook. Anything else is treated like MLBRIDGE_STATUS_ERROR. */
enum {
  MLBRIDGE_STATUS_OK = 0,
  /* The hook failed; *error_out says why. The host reports it with the plugin's name. */
  MLBRIDGE_STATUS_ERROR = 1,
  /* resource_command: no mapping for this verb and kind (not an error of the plugin). */
  MLBRIDGE_STATUS_NOT_FOUND = 2,
  /* validate: the configuration is invalid; shape_args: the arguments are refused.
   * *error_out is the message the user sees (name the key or argument). */
  MLBRIDGE_STATUS_INVALID = 3
};

/* Log levels of mlbridge_host_logger.log. */
enum {
  MLBRIDGE_LOG_TRACE = 0,
  MLBRIDGE_LOG_DEBUG = 1,
  MLBRIDGE_LOG_INFO = 2,
  MLBRIDGE_LOG_WARN = 3,
  MLBRIDGE_LOG_ERROR = 4
};

/* The host's logger, handed to the plugin through set_logger. Plugins log only through this,
 * never through a logging library's global registry shared with the host. */
typedef struct mlbridge_host_logger {
  /* sizeof(mlbridge_host_logger) as the host compiled it; fields may be added at the end. */
  uint32_t struct_size;
  /* OWNERSHIP: host. Opaque; passed back unchanged as the first argument of `log`. */
  void* context;
  /* Writes one log line. Thread-safe: any thread may call it at any time after set_logger.
   * `message` — OWNERSHIP: caller (the plugin), borrowed for the call; UTF-8, NUL-terminated.
   * `level` is one of MLBRIDGE_LOG_*. */
  void (*log)(void* context, int level, const char* message);
} mlbridge_host_logger;

/* The plugin's table, version 1. Every hook returns an MLBRIDGE_STATUS_* value. */
typedef struct mlbridge_plugin_v1 {
  /* --- Fixed header: same place in every ABI version. Read by the host before anything else. */
  uint32_t abi_major;   /* MLBRIDGE_PLUGIN_ABI_MAJOR the plugin was built with. */
  uint32_t abi_minor;   /* MLBRIDGE_PLUGIN_ABI_MINOR the plugin was built with. */
  uint32_t struct_size; /* sizeof(mlbridge_plugin_v1) as the plugin compiled it. */

  /* --- Identity. OWNERSHIP: plugin, static: valid while the library is loaded; UTF-8. */
  const char* name;        /* "dspy" for libmlbridge_dspy.so; must not be NULL or empty. */
  const char* version;     /* The plugin's own version, e.g. "1.2.0". NULL reads as "". */
  const char* framework;   /* The framework adapted, e.g. "dspy". NULL reads as "". */
  const char* description; /* One line for `mlbridge plugins`. NULL reads as "". */

  /* Hands the plugin the host's logger. Called once, right after the ABI check and before any
   * other hook; may be called again later to replace it (the latest one wins).
   * `logger` — OWNERSHIP: host; stays valid until the process exits; the plugin keeps the
   * pointer. NULL hook: the plugin does not log. */
  int (*set_logger)(const mlbridge_host_logger* logger);

  /* The plugin's defaults for a bridge config: a JSON object with the keys of the YAML bridge
   * schema (e.g. {"script": "...", "required_packages": [...], "pool": {"size": 1}}); the
   * bridge's YAML overrides them key by key.
   * `json_out`  — OWNERSHIP: plugin-allocated, released by the host with free_string.
   * `error_out` — OWNERSHIP: plugin-allocated, released by the host with free_string; set on
   *               failure. NULL hook: defaults are {}. */
  int (*get_defaults)(char** json_out, char** error_out);

  /* Checks a bridge's merged config (the JSON object of its YAML keys, defaults applied).
   * Returns OK, or INVALID with a message naming the key ("options.lm.model must be a string").
   * `bridge_config_json` — OWNERSHIP: host, borrowed for the call.
   * `error_out` — OWNERSHIP: plugin-allocated, released by the host with free_string.
   * NULL hook: every config is valid. */
  int (*validate)(const char* bridge_config_json, char** error_out);

  /* The plugin's error translation rules: a JSON array of objects
   * {"type": "RateLimitError", "match": "<ECMAScript regex, optional>",
   *  "category": "rate_limit", "retryable": true (optional)}, first match wins. `type` is a
   * Python exception class name, fully qualified ("litellm.RateLimitError") or its last part.
   * `json_out`, `error_out` — OWNERSHIP: plugin-allocated, released by the host with free_string.
   * NULL hook: no rules. */
  int (*get_error_rules)(char** json_out, char** error_out);

  /* The command for a resource verb ("create", "get", "list", "execute", "delete") on a kind
   * ("program"): OK with *command_out set, or NOT_FOUND when the plugin maps no such pair.
   * `verb`, `kind` — OWNERSHIP: host, borrowed for the call.
   * `command_out`, `error_out` — OWNERSHIP: plugin-allocated, released by the host with
   * free_string. NULL hook: no mapping for anything. */
  int (*resource_command)(const char* verb, const char* kind, char** command_out, char** error_out);

  /* Rewrites a command's arguments before the host sends them to a worker (e.g. fills in
   * defaults). OK with *json_out set to the new arguments (a JSON value), or OK with *json_out
   * left NULL to keep them unchanged; INVALID with a message to refuse the call.
   * `command`, `args_json` — OWNERSHIP: host, borrowed for the call.
   * `json_out`, `error_out` — OWNERSHIP: plugin-allocated, released by the host with
   * free_string. NULL hook: arguments pass unchanged. */
  int (*shape_args)(const char* command, const char* args_json, char** json_out, char** error_out);

  /* Releases a string this plugin returned through any `*_out` parameter. NULL is a no-op.
   * `str` — OWNERSHIP: transferred from the host back to the plugin.
   * Required whenever a hook can return a string. */
  void (*free_string)(char* str);
  /* --- ABI minor 1 ------------------------------------------------------------------------- */
  /* How sessions of this bridge survive the loss of their worker: a JSON object
   * {"setup": [{"command", "object", "append"?}], "undo": [{"command", "object",
   *  "appended_only"?}], "snapshot": {"save", "restore"} (optional), "max_entries"?,
   *  "max_bytes"?}. Setup commands build session objects (their successful calls are journaled
   * and replayed in order on another worker); undo commands remove them. `object` names what a
   * command builds ("program:{program_id}": {name} is the argument, or the result's field, of
   * that name). See docs/sessions.md. The bridge's YAML `sessions.replay` overrides it key by
   * key. Called once, when the plugin is loaded.
   * `json_out`, `error_out` — OWNERSHIP: plugin-allocated, released by the host with
   * free_string. NULL hook (or a plugin of ABI minor 0): no rules; sessions keep their host-side
   * state across workers, but not their objects. */
  int (*get_session_rules)(char** json_out, char** error_out);
  /* New fields go here, at the end, with a new ABI minor. */
} mlbridge_plugin_v1;

/* The entry point every plugin exports. Returns the plugin's table, or NULL when the plugin
 * cannot initialise. Cheap and idempotent: every call returns the same pointer.
 * Return value — OWNERSHIP: plugin, static: valid while the library is loaded. */
MLBRIDGE_PLUGIN_EXPORT const mlbridge_plugin_v1* mlbridge_plugin_entry(void);

/* The entry point's type, for hosts that look it up with dlsym or Boost.DLL. */
typedef const mlbridge_plugin_v1* (*mlbridge_plugin_entry_fn)(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MLBRIDGE_SDK_PLUGIN_ABI_H */
