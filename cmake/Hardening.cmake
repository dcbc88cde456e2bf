# Hardened compile and link flags (see docs/hardening notes in the README).
# Debian 12's dpkg hardening leaves out stack-clash and control-flow
# protection and uses fortify level 2, so the flags are spelled out here.
include(CheckCSourceCompiles)
include(CheckCCompilerFlag)

function(shout_apply_hardening target)
  if(NOT SHOUT_HARDEN)
    return()
  endif()
  # _FORTIFY_SOURCE needs optimisation and fights with AddressSanitizer's
  # own interceptors, so it is left out of sanitizer builds.
  if(NOT SHOUT_SANITIZE)
    set(CMAKE_REQUIRED_FLAGS "-O2")
    set(CMAKE_REQUIRED_DEFINITIONS "-D_FORTIFY_SOURCE=3")
    check_c_source_compiles("
      #include <string.h>
      #if !defined(__USE_FORTIFY_LEVEL) || __USE_FORTIFY_LEVEL < 3
      #error no fortify 3
      #endif
      int main(void) { return 0; }" SHOUT_HAVE_FORTIFY3)
    unset(CMAKE_REQUIRED_DEFINITIONS)
    unset(CMAKE_REQUIRED_FLAGS)
    if(SHOUT_HAVE_FORTIFY3)
      target_compile_options(${target} INTERFACE -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3)
    else()
      target_compile_options(${target} INTERFACE -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2)
    endif()
  endif()
  target_compile_options(${target} INTERFACE -fstack-protector-strong)
  foreach(flag -fstack-clash-protection -fcf-protection)
    string(MAKE_C_IDENTIFIER "SHOUT_HAVE${flag}" have)
    check_c_compiler_flag(${flag} ${have})
    if(${have})
      target_compile_options(${target} INTERFACE ${flag})
    endif()
  endforeach()
  target_compile_options(${target} INTERFACE -fPIE)
  target_link_options(${target} INTERFACE -pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack)
endfunction()
