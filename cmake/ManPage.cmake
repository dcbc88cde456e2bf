# shout_man_page(PROGRAM <target> SECTION <n> NAME <text>
#                [VERSION_STRING <version>] [INCLUDE <h2m file>])
#
# A man page for one of our programs, as Debian installs them: help2man reads
# the built program's --help and --version (so the page cannot disagree with
# the parser) into <program>.<n> in the current build directory, which stays
# there uncompressed; gzip -9n makes <program>.<n>.gz beside it (-n: no file
# name and no timestamp in the header, so the same page gives the same bytes,
# as Debian Policy 12.1 asks), and that is what `cmake --install` and so
# `cpack -G DEB` put in ${CMAKE_INSTALL_MANDIR}/man<n>. The target
# <program>_man (with - as _) builds both with `all`.
#
# Without help2man (Debian: help2man) the program gets no page and a warning.
include_guard(GLOBAL)

find_program(HELP2MAN help2man)
find_program(GZIP gzip)

function(shout_man_page)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "PROGRAM;SECTION;NAME;VERSION_STRING;INCLUDE" "")
  if(NOT arg_PROGRAM OR NOT arg_SECTION OR NOT arg_NAME OR arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "shout_man_page(PROGRAM target SECTION n NAME text "
                        "[VERSION_STRING v] [INCLUDE file]): got ${ARGV}")
  endif()
  if(NOT HELP2MAN OR NOT GZIP)
    message(WARNING "help2man or gzip not found: no man page for ${arg_PROGRAM} "
                    "(ci/install-deps help2man)")
    return()
  endif()

  set(page ${CMAKE_CURRENT_BINARY_DIR}/${arg_PROGRAM}.${arg_SECTION})
  set(options --no-info --section=${arg_SECTION} --name ${arg_NAME})
  set(depends ${arg_PROGRAM})
  if(arg_VERSION_STRING)
    list(APPEND options --version-string ${arg_VERSION_STRING})
  endif()
  if(arg_INCLUDE)
    list(APPEND options --include ${arg_INCLUDE})
    list(APPEND depends ${arg_INCLUDE})
  endif()

  add_custom_command(OUTPUT ${page}
                     COMMAND ${HELP2MAN} ${options} --output ${page} $<TARGET_FILE:${arg_PROGRAM}>
                     DEPENDS ${depends}
                     COMMENT "help2man: ${arg_PROGRAM}.${arg_SECTION} from ${arg_PROGRAM} --help"
                     VERBATIM)
  # -k keeps the uncompressed page, -f replaces an older .gz. gzip gives the
  # .gz the page's own mtime; the touch makes it newer, so that make and
  # ninja see it as built.
  add_custom_command(OUTPUT ${page}.gz
                     COMMAND ${GZIP} -9nkf ${page}
                     COMMAND ${CMAKE_COMMAND} -E touch ${page}.gz
                     DEPENDS ${page}
                     COMMENT "gzip -9n: ${arg_PROGRAM}.${arg_SECTION}.gz" VERBATIM)
  string(REPLACE "-" "_" target ${arg_PROGRAM}_man)
  add_custom_target(${target} ALL DEPENDS ${page} ${page}.gz)
  install(FILES ${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${arg_SECTION})
endfunction()
