// A valid shared library that is not an mlbridge plugin: it exports no mlbridge_plugin_entry.

extern "C" __attribute__((visibility("default"))) int mlbridge_something_else(void) { return 1; }
