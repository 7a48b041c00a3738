# mlbridge_add_plugin(<name> SOURCES <src>... [BRIDGE_SCRIPT <file>] [OUTPUT_DIRECTORY <dir>]
#                     [LINK_LIBRARIES <lib>...])
#
# Builds an mlbridge adapter plugin: a MODULE library libmlbridge_<name>.so (target
# mlbridge_<name>), compiled with hidden visibility and linked with a version script that exports
# only the C ABI entry point (mlbridge_plugin_*). <name> must be the name the plugin reports in
# its PluginInfo and the one a YAML bridge uses in `plugin: <name>`.
#
# A plugin whose SOURCES are all C files (*.c, *.h) links mlbridge::sdk_c (<mlbridge/sdk/plugin_abi.h>
# alone; nlohmann_json is not needed); any other plugin links mlbridge::sdk (the C++ wrapper
# <mlbridge/sdk/plugin.hpp>, with nlohmann_json).
#
# The link fails, saying what to add, when no source defines the entry point
# mlbridge_plugin_entry (a C++ plugin that forgot MLBRIDGE_PLUGIN(...)): such a library could
# only be refused by the host later.
#
# BRIDGE_SCRIPT copies the plugin's Python bridge script (a path relative to the current source
# directory, or absolute) beside the library at every build, so the library's directory is a
# complete plugin directory, and tells the C++ wrapper its file name: a C++ plugin then defaults
# `script` to that copy by itself (mlbridge::sdk::bridge_script()). The target property
# MLBRIDGE_BRIDGE_SCRIPT holds the script's source path, for install() rules.
#
# OUTPUT_DIRECTORY puts the library there instead of CMAKE_LIBRARY_OUTPUT_DIRECTORY (or the
# current binary directory); LINK_LIBRARIES are linked privately.
#
# Part of the installed CMake package `mlbridge` (find_package(mlbridge CONFIG REQUIRED)) and
# used in-tree by plugins/ and tests/.

include_guard(GLOBAL)
if(CMAKE_VERSION VERSION_LESS 3.17)  # for CMAKE_CURRENT_FUNCTION_LIST_DIR
  message(FATAL_ERROR "mlbridge_add_plugin() needs CMake 3.17 or newer")
endif()

function(mlbridge_add_plugin name)
  # The version script and the link check sit beside this file, in the source tree and once
  # installed.
  set(ldscript "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/mlbridge_plugin.ldscript")
  set(link_check "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/mlbridge_plugin_link.cmake")
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "OUTPUT_DIRECTORY;BRIDGE_SCRIPT"
                        "SOURCES;LINK_LIBRARIES")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "mlbridge_add_plugin(${name}): unknown arguments: ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT name MATCHES "^[A-Za-z0-9_-]+$")
    message(FATAL_ERROR
      "mlbridge_add_plugin(${name}): a plugin name may hold only letters, digits, '_' and '-'")
  endif()
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "mlbridge_add_plugin(${name}): SOURCES is required")
  endif()

  # All-C sources: the C ABI alone. Anything else: the C++ wrapper.
  set(sdk_target mlbridge::sdk_c)
  foreach(source IN LISTS ARG_SOURCES)
    if(NOT source MATCHES "\\.(c|h|inc)$")
      set(sdk_target mlbridge::sdk)
    endif()
  endforeach()
  if(NOT TARGET mlbridge::sdk_c)
    message(FATAL_ERROR "mlbridge_add_plugin(${name}): target mlbridge::sdk_c not found; "
                        "call find_package(mlbridge CONFIG REQUIRED) first")
  endif()
  if(NOT TARGET ${sdk_target})
    message(FATAL_ERROR
      "mlbridge_add_plugin(${name}): a C++ plugin needs the target mlbridge::sdk (the C++ "
      "wrapper <mlbridge/sdk/plugin.hpp>), which needs nlohmann_json 3.11 or newer, and "
      "find_package(mlbridge) did not find nlohmann_json: install it (Debian: nlohmann-json3-dev) "
      "or add its prefix to CMAKE_PREFIX_PATH. A plugin written in C (only .c sources) needs "
      "only mlbridge::sdk_c.")
  endif()

  set(target mlbridge_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE ${sdk_target} ${ARG_LINK_LIBRARIES})
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME "mlbridge_${name}"
    SUFFIX ".so"
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LINK_DEPENDS "${ldscript}"
  )
  target_link_options(${target} PRIVATE
    "LINKER:--version-script=${ldscript}"
    # A library without the entry point is not a plugin: refuse to link it.
    "LINKER:--require-defined=mlbridge_plugin_entry"
  )
  # The linker alone says "required symbol `mlbridge_plugin_entry' not defined"; the link check
  # runs the link and, when that is why it failed, says what to write instead.
  foreach(lang C CXX)
    get_target_property(launcher ${target} ${lang}_LINKER_LAUNCHER)
    if(NOT launcher)
      set(launcher "")
    endif()
    set_property(TARGET ${target} PROPERTY ${lang}_LINKER_LAUNCHER
      "${CMAKE_COMMAND}" "-DMLBRIDGE_PLUGIN_NAME=${name}" -P "${link_check}" -- ${launcher})
  endforeach()
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  endif()

  if(DEFINED ARG_BRIDGE_SCRIPT)
    get_filename_component(script "${ARG_BRIDGE_SCRIPT}" ABSOLUTE
                           BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    if(NOT EXISTS "${script}" OR IS_DIRECTORY "${script}")
      message(FATAL_ERROR "mlbridge_add_plugin(${name}): BRIDGE_SCRIPT '${ARG_BRIDGE_SCRIPT}' "
                          "is not a file (looked for ${script})")
    endif()
    get_filename_component(script_name "${script}" NAME)
    if(script_name MATCHES "[\"\\\\]")
      message(FATAL_ERROR "mlbridge_add_plugin(${name}): BRIDGE_SCRIPT's file name "
                          "'${script_name}' may not hold quotes or backslashes")
    endif()
    # Relinked (and so copied again) whenever the script changes.
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS "${script}")
    set_property(TARGET ${target} PROPERTY MLBRIDGE_BRIDGE_SCRIPT "${script}")
    target_compile_definitions(${target} PRIVATE
      "MLBRIDGE_PLUGIN_BRIDGE_SCRIPT=\"${script_name}\"")
    add_custom_command(TARGET ${target} POST_BUILD
      COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${script}" "$<TARGET_FILE_DIR:${target}>"
      COMMENT "Copying ${script_name} beside libmlbridge_${name}.so"
      VERBATIM
    )
  endif()
endfunction()
