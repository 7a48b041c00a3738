# The link step of every mlbridge_add_plugin() target (its <LANG>_LINKER_LAUNCHER):
#
#   cmake -DMLBRIDGE_PLUGIN_NAME=<name> -P mlbridge_plugin_link.cmake -- <link command>...
#
# Runs the link command unchanged (the linker's own messages pass through). The plugin is linked
# with --require-defined=mlbridge_plugin_entry; when the link fails because the entry point is
# missing, this says what the plugin's author forgot and how to add it, instead of leaving them
# with the linker's one line about a symbol they never wrote themselves.

set(link_command)
set(after_separator FALSE)
math(EXPR last_argument "${CMAKE_ARGC} - 1")
foreach(index RANGE ${last_argument})
  if(after_separator)
    list(APPEND link_command "${CMAKE_ARGV${index}}")
  elseif(CMAKE_ARGV${index} STREQUAL "--")
    set(after_separator TRUE)
  endif()
endforeach()
if(NOT link_command)
  message(FATAL_ERROR "mlbridge_plugin_link.cmake: no link command after '--'")
endif()

execute_process(COMMAND ${link_command} RESULT_VARIABLE status ERROR_VARIABLE linker_errors)
if(NOT linker_errors STREQUAL "")
  string(REGEX REPLACE "\n$" "" linker_errors "${linker_errors}")
  message(NOTICE "${linker_errors}")
endif()
if(status EQUAL 0)
  return()
endif()
if(linker_errors MATCHES "mlbridge_plugin_entry")
  message(FATAL_ERROR
    "mlbridge_add_plugin(${MLBRIDGE_PLUGIN_NAME}): libmlbridge_${MLBRIDGE_PLUGIN_NAME}.so defines "
    "no mlbridge_plugin_entry, the entry point the mlbridge host loads, so it would not be a "
    "plugin. In C++, write MLBRIDGE_PLUGIN(YourAdapter) once, at namespace scope, in one of the "
    "plugin's .cpp files (#include <mlbridge/sdk/plugin.hpp>). In C, define "
    "`MLBRIDGE_PLUGIN_EXPORT const mlbridge_plugin_v1* mlbridge_plugin_entry(void)` "
    "(#include <mlbridge/sdk/plugin_abi.h>).")
endif()
message(FATAL_ERROR "linking libmlbridge_${MLBRIDGE_PLUGIN_NAME}.so failed "
                    "(exit status ${status}; the linker's messages are above)")
