# Target helpers mirroring bazel/defs.bzl, so reca/ and the service have one build
# description shape in both systems:
#
#   reca_cc_library(NAME SRCS a.cc [HDRS a.h] DEPS reca::torch ...)  # no SRCS: header-only
#   reca_cc_binary(NAME SRCS main.cc DEPS ...)
#   reca_cc_test(NAME SRCS a_test.cc DEPS ... [TIMEOUT s] [LABELS ...] [NO_GTEST_MAIN])
#   reca_cc_proto(NAME SRCS reca/v1/x.proto [DEPS other_proto])
#
# Includes resolve from the repository root ("reca/status.h"), as in Bazel.

set(RECA_COPTS -Wall -Wextra -Wno-unused-parameter)

function(reca_cc_library NAME)
  cmake_parse_arguments(ARG "" "" "SRCS;HDRS;DEPS" ${ARGN})
  if(ARG_SRCS)
    add_library(${NAME} STATIC ${ARG_SRCS} ${ARG_HDRS})
    target_compile_options(${NAME} PRIVATE ${RECA_COPTS})
    target_link_libraries(${NAME} PUBLIC ${ARG_DEPS})
  else()
    add_library(${NAME} INTERFACE ${ARG_HDRS})
    target_link_libraries(${NAME} INTERFACE ${ARG_DEPS})
  endif()
endfunction()

function(reca_cc_binary NAME)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${NAME} ${ARG_SRCS})
  target_compile_options(${NAME} PRIVATE ${RECA_COPTS})
  target_link_libraries(${NAME} PRIVATE ${ARG_DEPS})
endfunction()

# Links reca::gtest_main (gtest + gmock + main) unless NO_GTEST_MAIN. TEST_TMPDIR is set
# per test, as Bazel does, so testing::TempDir() never collides under `ctest -j`.
# A no-op where GoogleTest is absent (the CUDA build), so reca/ needs no guards.
function(reca_cc_test NAME)
  cmake_parse_arguments(ARG "NO_GTEST_MAIN" "TIMEOUT" "SRCS;DEPS;LABELS;ARGS" ${ARGN})
  if(NOT TARGET reca::gtest)
    return()
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)  # Bazel's default (size = "medium")
  endif()
  if(ARG_NO_GTEST_MAIN)
    set(gtest reca::gtest)
  else()
    set(gtest reca::gtest_main)
  endif()
  add_executable(${NAME} ${ARG_SRCS})
  target_compile_options(${NAME} PRIVATE ${RECA_COPTS})
  target_link_libraries(${NAME} PRIVATE ${ARG_DEPS} ${gtest})
  add_test(NAME ${NAME} COMMAND ${NAME} ${ARG_ARGS})
  set(tmpdir "${CMAKE_CURRENT_BINARY_DIR}/${NAME}.tmp")
  file(MAKE_DIRECTORY "${tmpdir}")
  set_tests_properties(${NAME} PROPERTIES
    TIMEOUT ${ARG_TIMEOUT}
    LABELS "${ARG_LABELS}"
    ENVIRONMENT "TEST_TMPDIR=${tmpdir}")
endfunction()

# protoc + grpc_cpp_plugin, the same outputs and include paths as reca_cc_proto in
# bazel/defs.bzl: reca/v1/x.proto -> "reca/v1/x.pb.h", x.grpc.pb.h, x_mock.grpc.pb.h.
# Imports resolve from the calling directory; DEPS are other reca_cc_proto targets.
function(reca_cc_proto NAME)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  set(out "${CMAKE_CURRENT_BINARY_DIR}")
  set(protos "")
  foreach(src IN LISTS ARG_SRCS)
    list(APPEND protos "${CMAKE_CURRENT_SOURCE_DIR}/${src}")
  endforeach()
  # Regenerate when an imported proto of a dependency changes, too.
  set(imported "")
  foreach(dep IN LISTS ARG_DEPS)
    get_target_property(dep_protos ${dep} RECA_PROTOS)
    list(APPEND imported ${dep_protos})
  endforeach()

  set(generated "")
  foreach(src IN LISTS ARG_SRCS)
    string(REGEX REPLACE "\\.proto$" "" base "${src}")
    set(files
      "${out}/${base}.pb.h" "${out}/${base}.pb.cc"
      "${out}/${base}.grpc.pb.h" "${out}/${base}.grpc.pb.cc"
      "${out}/${base}_mock.grpc.pb.h")
    add_custom_command(
      OUTPUT ${files}
      COMMAND protobuf::protoc
        -I "${CMAKE_CURRENT_SOURCE_DIR}"
        "--cpp_out=${out}"
        "--grpc_out=generate_mock_code=true:${out}"
        "--plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>"
        "${CMAKE_CURRENT_SOURCE_DIR}/${src}"
      DEPENDS ${protos} ${imported} protobuf::protoc gRPC::grpc_cpp_plugin
      COMMENT "protoc ${src}"
      VERBATIM)
    list(APPEND generated ${files})
  endforeach()

  add_library(${NAME} STATIC ${generated})
  # SYSTEM: warnings in generated code are not ours to fix (Bazel: -isystem too).
  target_include_directories(${NAME} SYSTEM PUBLIC "${out}")
  target_link_libraries(${NAME} PUBLIC ${ARG_DEPS} gRPC::grpc++ protobuf::libprotobuf)
  set_target_properties(${NAME} PROPERTIES RECA_PROTOS "${protos};${imported}")
endfunction()
