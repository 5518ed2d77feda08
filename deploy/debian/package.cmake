# The Debian package (docs/operations.md, "Installing from the package"): install()
# rules for what a node needs on a host, and CPack's DEB generator around them.
# scripts/package.sh builds it (cpack -G DEB in a release build); the package test
# (tests/package/) installs it into a throw-away root, runs a node from it and removes it.
#
# One package, imgarc: imgarcd, the imgarc CLI and imgarc-verify (the offline check of
# a data dir), the systemd unit, /etc/imgarc/imgarcd.conf (a conffile) and the
# maintainer scripts of this folder (the imgarc system user and /var/lib/imgarc, owned
# by it, mode 0700; the service enabled and started as debhelper's snippets do).
# Depends comes from dpkg-shlibdeps over the binaries, plus the patched libraft.

set(IMGARC_PKG_DIR ${CMAKE_SOURCE_DIR}/deploy/debian)
set(IMGARC_PKG_GEN ${CMAKE_BINARY_DIR}/package)
file(MAKE_DIRECTORY ${IMGARC_PKG_GEN})

# The libraft the package runs on: Debian's 0.22.1 from bookworm-backports with
# deploy/libraft's patches (scripts/install-deps.sh builds and installs it).
set(IMGARC_PKG_LIBRAFT "libraft0 (>= 0.22.1-1~bpo12+1imgarc1)")
set(IMGARC_PKG_REVISION 1)
set(IMGARC_DEB_VERSION ${PROJECT_VERSION}-${IMGARC_PKG_REVISION})

install(TARGETS imgarcd imgarc imgarc-verify RUNTIME DESTINATION bin)

# The unit as deploy/imgarcd.service has it, with the package's binary path and
# without the comment on installing it by hand.
file(READ ${CMAKE_SOURCE_DIR}/deploy/imgarcd.service unit)
string(FIND "${unit}" "[Unit]" unit_start)
string(SUBSTRING "${unit}" ${unit_start} -1 unit)
string(REPLACE "/usr/local/bin/imgarcd" "/usr/bin/imgarcd" unit "${unit}")
file(WRITE ${IMGARC_PKG_GEN}/imgarcd.service
     "# imgarcd as installed by the imgarc package (/usr/share/doc/imgarc/operations.md).\n"
     "# Local changes: systemctl edit imgarcd (a drop-in survives upgrades).\n${unit}")
install(FILES ${IMGARC_PKG_GEN}/imgarcd.service DESTINATION /lib/systemd/system)

install(FILES ${IMGARC_PKG_DIR}/imgarcd.conf DESTINATION /etc/imgarc)

# Documentation: what Debian wants (copyright, changelog.Debian.gz) and the operator's
# guide with the example configurations of a three-node cluster.
execute_process(COMMAND git log -1 --format=%cD WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
                OUTPUT_VARIABLE IMGARC_PKG_DATE OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT IMGARC_PKG_DATE)
  string(TIMESTAMP IMGARC_PKG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
endif()
file(READ ${IMGARC_PKG_DIR}/changelog changelog)
string(REPLACE "@DEB_VERSION@" "${IMGARC_DEB_VERSION}" changelog "${changelog}")
string(REPLACE "@GIT_COMMIT@" "${IMGARC_GIT_COMMIT}" changelog "${changelog}")
string(REPLACE "@DATE_RFC2822@" "${IMGARC_PKG_DATE}" changelog "${changelog}")
file(WRITE ${IMGARC_PKG_GEN}/changelog.Debian "${changelog}")
find_program(GZIP_PROGRAM gzip REQUIRED)
add_custom_command(OUTPUT ${IMGARC_PKG_GEN}/changelog.Debian.gz
                   COMMAND ${GZIP_PROGRAM} -9nc ${IMGARC_PKG_GEN}/changelog.Debian
                           > ${IMGARC_PKG_GEN}/changelog.Debian.gz
                   DEPENDS ${IMGARC_PKG_DIR}/changelog)
add_custom_target(imgarc_package_changelog ALL DEPENDS ${IMGARC_PKG_GEN}/changelog.Debian.gz)
install(FILES ${IMGARC_PKG_DIR}/copyright ${IMGARC_PKG_GEN}/changelog.Debian.gz
              ${CMAKE_SOURCE_DIR}/docs/operations.md ${CMAKE_SOURCE_DIR}/docs/tls.md
        DESTINATION share/doc/imgarc)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/imgarcd.conf.example
              ${CMAKE_SOURCE_DIR}/deploy/examples/node1.conf
              ${CMAKE_SOURCE_DIR}/deploy/examples/node2.conf
              ${CMAKE_SOURCE_DIR}/deploy/examples/node3.conf
        DESTINATION share/doc/imgarc/examples)
install(FILES ${IMGARC_PKG_DIR}/lintian-overrides DESTINATION share/lintian/overrides
        RENAME imgarc)

# Manual pages, made by help2man from each program's --help and --version (so they
# say what the program says): imgarc(1), imgarcd(8) and imgarc-verify(8).
find_program(HELP2MAN help2man REQUIRED)
set(IMGARC_MAN_PAGES)
foreach(page imgarc:1:imgarc.command.line.client imgarcd:8:imgarc.archive.node
             imgarc-verify:8:check.an.imgarc.data.directory)
  string(REPLACE ":" ";" page "${page}")
  list(GET page 0 prog)
  list(GET page 1 section)
  list(GET page 2 name)
  string(REPLACE "." " " name "${name}")
  set(out ${IMGARC_PKG_GEN}/${prog}.${section})
  add_custom_command(OUTPUT ${out}.gz
                     COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section=${section}
                             --name=${name} --source=imgarc --output=${out}
                             $<TARGET_FILE:${prog}>
                     COMMAND ${GZIP_PROGRAM} -9nf ${out}
                     DEPENDS ${prog} VERBATIM)
  list(APPEND IMGARC_MAN_PAGES ${out}.gz)
  install(FILES ${out}.gz DESTINATION share/man/man${section})
endforeach()
add_custom_target(imgarc_package_man ALL DEPENDS ${IMGARC_MAN_PAGES})

# The maintainer scripts and the conffile list, at the modes dpkg wants.
file(WRITE ${IMGARC_PKG_GEN}/conffiles "/etc/imgarc/imgarcd.conf\n")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME imgarc)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "imgarc developers <packages@imgarc.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "distributed archive for finance document images")
set(CPACK_PACKAGE_DESCRIPTION
    "imgarc keeps the scanned paper behind expense claims and payables (covers,\n"
    "invoices, attachments) for the years accounting law asks. Each node, imgarcd,\n"
    "keeps the metadata in RocksDB replicated by Raft and the files as\n"
    "content-addressed blobs with copies across nodes and sites. Any node serves\n"
    "capture, retrieval and status over HTTP, with a web console. This package\n"
    "holds the node, its systemd service and the imgarc command line tool.")
string(REPLACE ";" "" CPACK_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${IMGARC_PKG_REVISION})
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://imgarc.org/")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${IMGARC_PKG_LIBRAFT}, adduser, init-system-helpers (>= 1.52)")
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${IMGARC_PKG_DIR}/postinst ${IMGARC_PKG_DIR}/prerm ${IMGARC_PKG_DIR}/postrm
    ${IMGARC_PKG_GEN}/conffiles)
include(CPack)
