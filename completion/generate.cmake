# cmake -P script, run at build time: writes a bash completion for PROGRAM
# from its own --help (and, with SUBCOMMANDS, each subcommand's --help), so
# that the completion cannot offer an option the program does not have.
# -D PROGRAM=path -D NAME=shout -D SUBCOMMANDS=send,ping,... -D OUTPUT=file
string(REPLACE "," ";" SUBCOMMANDS "${SUBCOMMANDS}")
function(options_of out)
  execute_process(COMMAND ${ARGN} OUTPUT_VARIABLE help RESULT_VARIABLE rc TIMEOUT 30)
  if(NOT rc EQUAL 0 OR help STREQUAL "")
    message(FATAL_ERROR "${ARGN} failed (${rc})")
  endif()
  # Long options anywhere, short ones where an option line starts ("  -p, --port").
  string(REGEX MATCHALL "--[a-z][a-z0-9-]*[a-z0-9]" long "${help}")
  string(REGEX MATCHALL "\n +-[a-zA-Z0-9],"  short "${help}")
  list(TRANSFORM short REPLACE "[\n ,]" "")
  set(all ${short} ${long})
  list(REMOVE_DUPLICATES all)
  list(SORT all)
  list(JOIN all " " all)
  set(${out} "${all}" PARENT_SCOPE)
endfunction()

string(MAKE_C_IDENTIFIER "${NAME}" fn)
set(text "# bash completion for ${NAME}, generated from its --help at build time.\n")
if(SUBCOMMANDS)
  list(JOIN SUBCOMMANDS " " subs)
  list(JOIN SUBCOMMANDS "|" alts)
  string(APPEND text "_${fn}()
{
    local cur=\"\${COMP_WORDS[COMP_CWORD]}\" sub=\"\" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case \"\${COMP_WORDS[i]}\" in
            ${alts}) sub=\"\${COMP_WORDS[i]}\"; break ;;
        esac
    done
    local opts
    case \"\$sub\" in
")
  foreach(sub IN LISTS SUBCOMMANDS)
    options_of(o ${PROGRAM} ${sub} --help)
    string(APPEND text "        ${sub}) opts=\"${o}\" ;;\n")
  endforeach()
  string(APPEND text "        *) if [[ \$cur != -* ]]; then
               COMPREPLY=(\$(compgen -W \"${subs}\" -- \"\$cur\")); return
           fi
           opts=\"--help --version\" ;;
    esac
    if [[ \$cur == -* ]]; then
        COMPREPLY=(\$(compgen -W \"\$opts\" -- \"\$cur\"))
    fi
}
")
else()
  options_of(o ${PROGRAM} --help)
  string(APPEND text "_${fn}()
{
    local cur=\"\${COMP_WORDS[COMP_CWORD]}\"
    if [[ \$cur == -* ]]; then
        COMPREPLY=(\$(compgen -W \"${o}\" -- \"\$cur\"))
    fi
}
")
endif()
# -o default: an option's argument or a file name falls back to file names.
string(APPEND text "complete -o default -F _${fn} ${NAME}\n")
file(WRITE ${OUTPUT} "${text}")
