# Run at every build (cmake -P): writes version.cc from version.cc.in with the project
# version and `git describe` of SOURCE_DIR. configure_file rewrites OUT only when its text
# changes, so an unchanged version recompiles nothing. Without git, or outside a checkout,
# the version is the project version alone.
set(PREWARM_VERSION_STRING "${VERSION}")
set(PREWARM_REVISION "unknown")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(
    COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" describe --always --dirty --tags
    OUTPUT_VARIABLE describe
    RESULT_VARIABLE rc
    OUTPUT_STRIP_TRAILING_WHITESPACE
    ERROR_QUIET)
  if(rc EQUAL 0 AND describe MATCHES "^[A-Za-z0-9._+-]+$")
    set(PREWARM_VERSION_STRING "${VERSION} (git ${describe})")
    set(PREWARM_REVISION "${describe}")
  endif()
endif()
configure_file("${IN}" "${OUT}" @ONLY)
