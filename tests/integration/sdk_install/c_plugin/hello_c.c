/* A plugin written in C against <mlbridge/sdk/plugin_abi.h> alone: a static table, defaults as
 * JSON text, and free_string for the strings it hands out. Its bridge is the echo example bridge
 * (the YAML names the script). */

#include <mlbridge/sdk/plugin_abi.h>
#include <stdlib.h>
#include <string.h>

/* A malloc'ed copy of text, released by the host through free_string. */
static char* copy_text(const char* text) {
  size_t size = strlen(text) + 1;
  char* copy = (char*)malloc(size);
  if (copy != NULL) memcpy(copy, text, size);
  return copy;
}

static int get_defaults(char** json_out, char** error_out) {
  *json_out = copy_text("{\"pool\": {\"size\": 1}, \"required_packages\": []}");
  if (*json_out != NULL) return MLBRIDGE_STATUS_OK;
  *error_out = copy_text("out of memory");
  return MLBRIDGE_STATUS_ERROR;
}

static void free_string(char* str) { free(str); }

static const mlbridge_plugin_v1 table = {
    .abi_major = MLBRIDGE_PLUGIN_ABI_MAJOR,
    .abi_minor = MLBRIDGE_PLUGIN_ABI_MINOR,
    .struct_size = sizeof(mlbridge_plugin_v1),
    .name = "hello_c",
    .version = "1.0.0",
    .framework = "echo",
    .description = "A plugin written in C",
    .get_defaults = get_defaults,
    .free_string = free_string,
};

MLBRIDGE_PLUGIN_EXPORT const mlbridge_plugin_v1* mlbridge_plugin_entry(void) { return &table; }
