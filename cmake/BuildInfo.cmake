# Writes build_info.h with the checkout's current commit. Run by the loupe_build_info target on
# every build (cmake -P) and once at configure time; configure_file leaves the header untouched
# when nothing changed, so a build at the same commit recompiles nothing.
# Inputs: SOURCE_DIR, PROJECT_VERSION, IN (the template), OUT (the header).
execute_process(COMMAND git rev-parse --short=12 HEAD
  WORKING_DIRECTORY ${SOURCE_DIR}
  OUTPUT_VARIABLE LOUPE_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT LOUPE_GIT_COMMIT)
  set(LOUPE_GIT_COMMIT "unknown")
endif()
configure_file(${IN} ${OUT} @ONLY)
