# cmake -P script, run at build time: writes help2man's --include file for
# shout, a [SUBCOMMANDS] section holding each subcommand's own --help as
# the program prints it, so that man shout and shout SUB --help cannot
# disagree. -D PROGRAM=path -D SUBCOMMANDS=send,ping,... -D OUTPUT=file
string(REPLACE "," ";" SUBCOMMANDS "${SUBCOMMANDS}")
set(text "[SUBCOMMANDS]\n")
foreach(sub IN LISTS SUBCOMMANDS)
  execute_process(COMMAND ${PROGRAM} ${sub} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc
                  TIMEOUT 30)
  if(NOT rc EQUAL 0 OR help STREQUAL "")
    message(FATAL_ERROR "${PROGRAM} ${sub} --help failed (${rc})")
  endif()
  # roff: a backslash is \e, a minus sign \- (so that options stay
  # copy-pastable), and a line starting with . or ' must not be a request.
  string(REPLACE "\\" "\\e" help "${help}")
  string(REPLACE "-" "\\-" help "${help}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" help "${help}")
  string(APPEND text ".SS \"shout ${sub}\"\n.nf\n${help}.fi\n")
endforeach()
file(WRITE ${OUTPUT} "${text}")
