# mlbridge_add_plugin(<name> SOURCES <src>... [OUTPUT_DIRECTORY <dir>] [LINK_LIBRARIES <lib>...])
#
# Builds an mlbridge adapter plugin: a MODULE library libmlbridge_<name>.so (target
# mlbridge_<name>) linked to mlbridge::sdk, compiled with hidden visibility and linked with a
# version script that exports only the C ABI entry point (mlbridge_plugin_*). <name> must be the
# name the plugin reports in its PluginInfo and the one a YAML bridge uses in `plugin: <name>`.
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
  # The version script sits beside this file, in the source tree and once installed.
  set(ldscript "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/mlbridge_plugin.ldscript")
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "OUTPUT_DIRECTORY" "SOURCES;LINK_LIBRARIES")
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
  if(NOT TARGET mlbridge::sdk)
    message(FATAL_ERROR "mlbridge_add_plugin(${name}): target mlbridge::sdk not found; "
                        "call find_package(mlbridge CONFIG REQUIRED) first")
  endif()

  set(target mlbridge_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE mlbridge::sdk ${ARG_LINK_LIBRARIES})
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME "mlbridge_${name}"
    SUFFIX ".so"
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LINK_DEPENDS "${ldscript}"
  )
  target_link_options(${target} PRIVATE "LINKER:--version-script=${ldscript}")
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  endif()
endfunction()
