# shout_python_test_methods(SCRIPT <file.py> CLASS <TestCase> PREFIX <prefix>
#                           LABELS <label> TIMEOUT <seconds>
#                           [ENVIRONMENT <VAR=value;...>] [RUN_SERIAL])
#
# One ctest test per `def test_<case>(self):` method of CLASS in SCRIPT,
# named <prefix>_<case>, so that `ctest -R` runs one case and a failure names
# it. A method added to the script registers itself at the next build (the
# script is a configure dependency). A case that skips itself (unittest's
# "OK (skipped=1)") is reported as skipped, not passed. The interpreter is
# Debian's (SHOUT_PYTHON), never whatever python3 is first on PATH.
# RUN_SERIAL: for cases that load loopback or pin CPUs, never beside another.
include_guard(GLOBAL)

find_program(SHOUT_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH REQUIRED)

function(shout_python_test_methods)
  # ${ARGN}, not PARSE_ARGV: a quoted "A=1;B=2" must become a list of variables.
  cmake_parse_arguments(arg "RUN_SERIAL" "SCRIPT;CLASS;PREFIX;LABELS;TIMEOUT" "ENVIRONMENT" ${ARGN})
  if(NOT arg_SCRIPT OR NOT arg_CLASS OR NOT arg_PREFIX OR NOT arg_LABELS OR NOT arg_TIMEOUT
     OR arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "shout_python_test_methods(SCRIPT f CLASS c PREFIX p LABELS l "
                        "TIMEOUT s [ENVIRONMENT e] [RUN_SERIAL]): got ${ARGV}")
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${arg_SCRIPT})
  file(STRINGS ${arg_SCRIPT} methods REGEX "^    def test_[a-z0-9_]+\\(self\\):")
  foreach(line IN LISTS methods)
    string(REGEX REPLACE "^    def test_([a-z0-9_]+).*" "\\1" case "${line}")
    # -B: running the test must not write __pycache__ into the source tree.
    add_test(NAME ${arg_PREFIX}_${case}
             COMMAND ${SHOUT_PYTHON} -B ${arg_SCRIPT} ${arg_CLASS}.test_${case})
    set_tests_properties(${arg_PREFIX}_${case} PROPERTIES
      ENVIRONMENT "${arg_ENVIRONMENT}"
      SKIP_REGULAR_EXPRESSION "OK \\(skipped=1\\)"
      LABELS ${arg_LABELS}
      TIMEOUT ${arg_TIMEOUT}
      RUN_SERIAL ${arg_RUN_SERIAL})
  endforeach()
endfunction()
