# Runs at install time (`cmake --install`, and cpack's staging install): CMAKE_INSTALL_PREFIX
# is then the prefix being installed to (/usr for the .deb), which the unit's paths follow.
# Set by the caller: SELGW_SOURCE_DIR, SELGW_BINARY_DIR, SELGW_BINDIR and SELGW_DOCDIR (relative).

# The unit, its ExecStart naming the installed selgw. systemd also reads units from
# /usr/local/lib/systemd/system, so a /usr/local install works as it is.
file(READ "${SELGW_SOURCE_DIR}/packaging/selgw.service" unit)
string(REPLACE "/usr/bin/selgw" "${CMAKE_INSTALL_PREFIX}/${SELGW_BINDIR}/selgw" unit "${unit}")
string(REPLACE "/usr/share/doc/selgw" "${CMAKE_INSTALL_PREFIX}/${SELGW_DOCDIR}" unit "${unit}")
file(WRITE "${SELGW_BINARY_DIR}/install/selgw.service" "${unit}")
file(INSTALL "${SELGW_BINARY_DIR}/install/selgw.service"
     DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system"
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# /etc/selgw/selgw.yaml, the config the unit runs (systemd's ConfigurationDirectory is /etc
# whatever the prefix). Only for a system install (prefix /usr, as the .deb's, where it is a
# conffile), and never over a config that is there already: that is the site's.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  if(EXISTS "$ENV{DESTDIR}/etc/selgw/selgw.yaml")
    message(STATUS "Kept: $ENV{DESTDIR}/etc/selgw/selgw.yaml (the site's config)")
  else()
    file(INSTALL "${SELGW_SOURCE_DIR}/config/example-tea-base.yaml" DESTINATION /etc/selgw
         RENAME selgw.yaml PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()
else()
  message(STATUS "Not installed: /etc/selgw/selgw.yaml (prefix is not /usr); copy "
                 "${CMAKE_INSTALL_PREFIX}/share/doc/selgw/examples/example-tea-base.yaml there")
endif()
