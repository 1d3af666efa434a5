# The official OpenTelemetry .proto files (OTLP), fetched from the npm registry at configure time
# and never copied into the repository.
#
# `@opentelemetry/otlp-grpc-exporter-base@0.38.0` ships them under package/build/protos/
# (opentelemetry/proto/{common,resource,trace,metrics,logs,collector}/...). The tarball is kept in
# <source>/build/protos/, shared by every preset, so a rebuild (or another preset) works offline;
# its SHA-1 is checked against the registry's published shasum.
#
# Produces:
#   loupe_otel_proto         C++ messages + gRPC stubs for the trace and metrics services
#   loupe_otel_proto_py      Python messages + gRPC stubs under <build>/otel_proto_py (tests)
#   LOUPE_OTEL_PROTO_ROOT    the directory holding opentelemetry/proto/...

set(LOUPE_OTEL_NPM_PACKAGE "@opentelemetry/otlp-grpc-exporter-base")
set(LOUPE_OTEL_NPM_VERSION "0.38.0")
set(LOUPE_OTEL_NPM_SHA1 "b0ce7db44ee36ef9ff1cb298bd6087139e12877f")
set(LOUPE_OTEL_TARBALL_NAME "opentelemetry-otlp-grpc-exporter-base-${LOUPE_OTEL_NPM_VERSION}.tgz")
set(LOUPE_OTEL_CACHE_DIR "${PROJECT_SOURCE_DIR}/build/protos" CACHE PATH
    "Where the OTLP proto tarball is cached and unpacked (shared by all presets)")
set(LOUPE_OTEL_TARBALL "${LOUPE_OTEL_CACHE_DIR}/${LOUPE_OTEL_TARBALL_NAME}")
set(LOUPE_OTEL_UNPACK_DIR "${LOUPE_OTEL_CACHE_DIR}/otlp-grpc-exporter-base-${LOUPE_OTEL_NPM_VERSION}")
set(LOUPE_OTEL_PROTO_ROOT "${LOUPE_OTEL_UNPACK_DIR}/package/build/protos")

file(MAKE_DIRECTORY "${LOUPE_OTEL_CACHE_DIR}")
# Several build directories may configure at once: one of them fetches, the others wait.
file(LOCK "${LOUPE_OTEL_CACHE_DIR}/.lock" GUARD FILE TIMEOUT 300)

function(_loupe_otel_tarball_ok out)
  set(${out} FALSE PARENT_SCOPE)
  if(EXISTS "${LOUPE_OTEL_TARBALL}")
    file(SHA1 "${LOUPE_OTEL_TARBALL}" sha1)
    if(sha1 STREQUAL LOUPE_OTEL_NPM_SHA1)
      set(${out} TRUE PARENT_SCOPE)
    endif()
  endif()
endfunction()

_loupe_otel_tarball_ok(have_tarball)
if(NOT have_tarball)
  find_program(LOUPE_NPM npm)
  if(NOT LOUPE_NPM)
    message(FATAL_ERROR
      "OTLP protos: ${LOUPE_OTEL_TARBALL} is missing and `npm` is not installed.\n"
      "Install Node.js with npm (the development image ships it; on plain Debian: apt-get "
      "install npm), or copy the tarball of "
      "${LOUPE_OTEL_NPM_PACKAGE}@${LOUPE_OTEL_NPM_VERSION} to ${LOUPE_OTEL_CACHE_DIR}.")
  endif()
  message(STATUS "OTLP protos: npm pack ${LOUPE_OTEL_NPM_PACKAGE}@${LOUPE_OTEL_NPM_VERSION}")
  execute_process(
    COMMAND ${LOUPE_NPM} pack "${LOUPE_OTEL_NPM_PACKAGE}@${LOUPE_OTEL_NPM_VERSION}"
            --pack-destination "${LOUPE_OTEL_CACHE_DIR}" --silent
    RESULT_VARIABLE npm_result
    OUTPUT_VARIABLE npm_out
    ERROR_VARIABLE npm_err
    TIMEOUT 180)
  _loupe_otel_tarball_ok(have_tarball)
  if(NOT have_tarball)
    message(FATAL_ERROR
      "OTLP protos: could not fetch ${LOUPE_OTEL_NPM_PACKAGE}@${LOUPE_OTEL_NPM_VERSION} from the "
      "npm registry (npm exit: ${npm_result}).\n${npm_err}\n"
      "Check that the npm registry is reachable (npm config get registry), or place the tarball "
      "(sha1 ${LOUPE_OTEL_NPM_SHA1}) at ${LOUPE_OTEL_TARBALL}; later builds then work offline.")
  endif()
endif()

if(NOT EXISTS "${LOUPE_OTEL_PROTO_ROOT}/opentelemetry/proto/collector/trace/v1/trace_service.proto")
  file(REMOVE_RECURSE "${LOUPE_OTEL_UNPACK_DIR}")
  file(MAKE_DIRECTORY "${LOUPE_OTEL_UNPACK_DIR}")
  file(ARCHIVE_EXTRACT INPUT "${LOUPE_OTEL_TARBALL}" DESTINATION "${LOUPE_OTEL_UNPACK_DIR}"
       PATTERNS "package/build/protos/*")
  if(NOT EXISTS "${LOUPE_OTEL_PROTO_ROOT}/opentelemetry/proto/collector/trace/v1/trace_service.proto")
    message(FATAL_ERROR "OTLP protos: ${LOUPE_OTEL_TARBALL} has no package/build/protos tree")
  endif()
endif()
file(LOCK "${LOUPE_OTEL_CACHE_DIR}/.lock" RELEASE)

find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
find_program(GRPC_PYTHON_PLUGIN grpc_python_plugin)

set(LOUPE_OTEL_PROTO_FILES
  opentelemetry/proto/common/v1/common.proto
  opentelemetry/proto/resource/v1/resource.proto
  opentelemetry/proto/trace/v1/trace.proto
  opentelemetry/proto/metrics/v1/metrics.proto
  opentelemetry/proto/collector/trace/v1/trace_service.proto
  opentelemetry/proto/collector/metrics/v1/metrics_service.proto)
set(LOUPE_OTEL_PROTO_SERVICES
  opentelemetry/proto/collector/trace/v1/trace_service.proto
  opentelemetry/proto/collector/metrics/v1/metrics_service.proto)
set(LOUPE_OTEL_CPP_DIR ${PROJECT_BINARY_DIR}/otel_proto/cpp)
set(LOUPE_OTEL_PY_DIR ${PROJECT_BINARY_DIR}/otel_proto_py)

set(otel_srcs)
set(otel_hdrs)
set(otel_py)
set(otel_abs)
foreach(f ${LOUPE_OTEL_PROTO_FILES})
  string(REGEX REPLACE "\\.proto$" "" base ${f})
  list(APPEND otel_srcs ${LOUPE_OTEL_CPP_DIR}/${base}.pb.cc)
  list(APPEND otel_hdrs ${LOUPE_OTEL_CPP_DIR}/${base}.pb.h)
  list(APPEND otel_py ${LOUPE_OTEL_PY_DIR}/${base}_pb2.py)
  list(APPEND otel_abs ${LOUPE_OTEL_PROTO_ROOT}/${f})
endforeach()
foreach(f ${LOUPE_OTEL_PROTO_SERVICES})
  string(REGEX REPLACE "\\.proto$" "" base ${f})
  list(APPEND otel_srcs ${LOUPE_OTEL_CPP_DIR}/${base}.grpc.pb.cc)
  list(APPEND otel_hdrs ${LOUPE_OTEL_CPP_DIR}/${base}.grpc.pb.h)
  if(GRPC_PYTHON_PLUGIN)
    list(APPEND otel_py ${LOUPE_OTEL_PY_DIR}/${base}_pb2_grpc.py)
  endif()
endforeach()

add_custom_command(
  OUTPUT ${otel_srcs} ${otel_hdrs}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${LOUPE_OTEL_CPP_DIR}
  COMMAND protobuf::protoc -I ${LOUPE_OTEL_PROTO_ROOT} --cpp_out=${LOUPE_OTEL_CPP_DIR}
          ${LOUPE_OTEL_PROTO_FILES}
  COMMAND protobuf::protoc -I ${LOUPE_OTEL_PROTO_ROOT} --grpc_out=${LOUPE_OTEL_CPP_DIR}
          --plugin=protoc-gen-grpc=${GRPC_CPP_PLUGIN} ${LOUPE_OTEL_PROTO_SERVICES}
  WORKING_DIRECTORY ${LOUPE_OTEL_PROTO_ROOT}
  DEPENDS ${otel_abs}
  COMMENT "Generating C++ from the OpenTelemetry protos")

if(GRPC_PYTHON_PLUGIN)
  set(otel_py_grpc_cmd COMMAND protobuf::protoc -I ${LOUPE_OTEL_PROTO_ROOT}
      --grpc_python_out=${LOUPE_OTEL_PY_DIR}
      --plugin=protoc-gen-grpc_python=${GRPC_PYTHON_PLUGIN} ${LOUPE_OTEL_PROTO_SERVICES})
endif()
add_custom_command(
  OUTPUT ${otel_py}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${LOUPE_OTEL_PY_DIR}
  COMMAND protobuf::protoc -I ${LOUPE_OTEL_PROTO_ROOT} --python_out=${LOUPE_OTEL_PY_DIR}
          ${LOUPE_OTEL_PROTO_FILES}
  ${otel_py_grpc_cmd}
  WORKING_DIRECTORY ${LOUPE_OTEL_PROTO_ROOT}
  DEPENDS ${otel_abs}
  COMMENT "Generating Python from the OpenTelemetry protos")
add_custom_target(loupe_otel_proto_py ALL DEPENDS ${otel_py})

add_library(loupe_otel_proto STATIC ${otel_srcs})
target_compile_options(loupe_otel_proto PRIVATE -w)
target_include_directories(loupe_otel_proto SYSTEM PUBLIC ${LOUPE_OTEL_CPP_DIR})
target_link_libraries(loupe_otel_proto PUBLIC protobuf::libprotobuf gRPC::grpc++)
