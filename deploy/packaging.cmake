# `cpack -G DEB` (from the build directory) makes prewarm_<version>_<arch>.deb:
#   /usr/lib/prewarm/   prewarm and the binaries it copies into instances (the agent finds
#                       them next to its own executable), /usr/bin/prewarm a link to it
#   /lib/systemd/system prewarm-orchestrator, prewarm-forecaster, prewarm-agent@NODE
#   /etc/prewarm/       the example configs, which connect to each other (conffiles);
#                       the forecaster keeps its history in /var/lib/prewarm/forecaster
#   /usr/share/prewarm/ Prometheus scrape config and alert rules, Grafana dashboard
# Tested by `package_deb` (tests/e2e/package_test.sh): installed into a fresh Debian root.
include(GNUInstallDirs)

install(TARGETS prewarm prewarm-httpd prewarm-guest-activate prewarm-qemu-jail prewarm-seccomp-exec
        prewarm-capstone-off
        RUNTIME DESTINATION lib/prewarm COMPONENT prewarm
        LIBRARY DESTINATION lib/prewarm COMPONENT prewarm)
install(CODE [[
  file(MAKE_DIRECTORY "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/bin")
  file(CREATE_LINK ../lib/prewarm/prewarm "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/bin/prewarm" SYMBOLIC)
]] COMPONENT prewarm)
# Generated from the binary at build time: the bash completion and the man page
# (help2man over `prewarm --help` and each subcommand's --help).
add_custom_command(
  OUTPUT ${CMAKE_BINARY_DIR}/package/prewarm.bash ${CMAKE_BINARY_DIR}/package/prewarm.1
  COMMAND $<TARGET_FILE:prewarm> completion bash > ${CMAKE_BINARY_DIR}/package/prewarm.bash
  COMMAND bash ${PROJECT_SOURCE_DIR}/deploy/man.sh $<TARGET_FILE:prewarm>
          ${CMAKE_BINARY_DIR}/package/prewarm.1
  DEPENDS prewarm ${PROJECT_SOURCE_DIR}/deploy/man.sh
  COMMENT "prewarm: bash completion and man page")
add_custom_target(prewarm-docs ALL DEPENDS ${CMAKE_BINARY_DIR}/package/prewarm.bash
                                           ${CMAKE_BINARY_DIR}/package/prewarm.1)
install(FILES ${CMAKE_BINARY_DIR}/package/prewarm.bash
        DESTINATION share/bash-completion/completions RENAME prewarm COMPONENT prewarm)
install(FILES ${CMAKE_BINARY_DIR}/package/prewarm.1 DESTINATION share/man/man1
        COMPONENT prewarm)

install(FILES deploy/systemd/prewarm-orchestrator.service deploy/systemd/prewarm-forecaster.service
              deploy/systemd/prewarm-agent@.service
        DESTINATION /lib/systemd/system COMPONENT prewarm)

# The packaged configs are the examples, with the forecaster's state kept in /var/lib.
file(READ examples/forecaster.yaml forecaster_yaml)
string(REGEX REPLACE "\nstate_dir: \"\"[^\n]*" "\nstate_dir: /var/lib/prewarm/forecaster    # the .deb's; learned series survive restarts"
       forecaster_yaml "${forecaster_yaml}")
if(NOT forecaster_yaml MATCHES "state_dir: /var/lib/prewarm/forecaster")
  message(FATAL_ERROR "examples/forecaster.yaml has no 'state_dir: \"\"' line for the package")
endif()
file(WRITE ${CMAKE_BINARY_DIR}/package/forecaster.yaml "${forecaster_yaml}")
install(FILES examples/orchestrator.yaml ${CMAKE_BINARY_DIR}/package/forecaster.yaml
        DESTINATION /etc/prewarm COMPONENT prewarm)
install(FILES examples/agent.yaml DESTINATION /etc/prewarm RENAME agent-fra-2.yaml
        COMPONENT prewarm)
# Each template's one definition, read by all three (`template_dir: templates.d`).
install(DIRECTORY examples/templates.d DESTINATION /etc/prewarm COMPONENT prewarm)
install(DIRECTORY deploy/prometheus deploy/grafana DESTINATION share/prewarm COMPONENT prewarm)

set(CPACK_PACKAGE_NAME prewarm)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "prewarm maintainers <prewarm@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "edge orchestrator that boots instances before the DNS query arrives")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, procps")  # procps: /bin/kill for ExecReload
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "runc, iproute2")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "qemu-system-x86, etcd-server, prometheus, runsc")
file(WRITE ${CMAKE_BINARY_DIR}/package/conffiles
     "/etc/prewarm/orchestrator.yaml\n/etc/prewarm/forecaster.yaml\n/etc/prewarm/agent-fra-2.yaml\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_BINARY_DIR}/package/conffiles ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
