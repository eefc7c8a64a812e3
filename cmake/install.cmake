# `cmake --install BUILD --prefix P`: the compressor command, the library with its public
# headers, and a CMake package so that other projects can `find_package(compressor)` and link
# compressor::compressor. Tests, benchmarks and fuzzers are not installed.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(COMPRESSOR_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/compressor)

install(TARGETS compressor_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# compressor_model (status, IR, ONNX I/O) is a public dependency of compressor, so it is
# installed and exported too, as compressor::model.
set_target_properties(compressor_model PROPERTIES EXPORT_NAME model)
install(TARGETS compressor compressor_model
        EXPORT compressorTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/compressor
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT compressorTargets
        NAMESPACE compressor::
        DESTINATION ${COMPRESSOR_INSTALL_CMAKEDIR})

configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/compressorConfig.cmake.in
  ${PROJECT_BINARY_DIR}/compressorConfig.cmake
  INSTALL_DESTINATION ${COMPRESSOR_INSTALL_CMAKEDIR})
# 0.x: a minor version may change the API.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/compressorConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/compressorConfig.cmake
              ${PROJECT_BINARY_DIR}/compressorConfigVersion.cmake
        DESTINATION ${COMPRESSOR_INSTALL_CMAKEDIR})
