"""Project macros: the native cc rules plus the project's warning flags, and protos.

    load("//bazel:defs.bzl", "reca_cc_binary", "reca_cc_library", "reca_cc_proto", "reca_cc_test")
"""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_library", "cc_test")

# LibTorch needs no extra suppressions: its headers (and all system/pkg-config headers)
# are -isystem, and a -Wall -Wextra build of TUs using nn, optim, jit, AT_DISPATCH,
# parallel_for and c10d printed no warnings from them.
RECA_COPTS = [
    "-Wall",
    "-Wextra",
    "-Wno-unused-parameter",
]

def _copts(kwargs):
    return RECA_COPTS + kwargs.pop("copts", [])

def reca_cc_library(name, **kwargs):
    cc_library(name = name, copts = _copts(kwargs), **kwargs)

def reca_cc_binary(name, **kwargs):
    cc_binary(name = name, copts = _copts(kwargs), **kwargs)

def reca_cc_test(name, gtest_main = True, **kwargs):
    """A cc_test; links //third_party:gtest_main (gtest + gmock + main) unless gtest_main = False."""
    deps = kwargs.pop("deps", [])
    if gtest_main:
        deps = deps + ["//third_party:gtest_main"]
    kwargs["deps"] = deps
    cc_test(name = name, copts = _copts(kwargs), **kwargs)

def reca_cc_proto(name, srcs, deps = [], visibility = None, testonly = None):
    """C++ messages, gRPC service classes and gmock mocks for `srcs`, as one cc_library `name`.

    Bazel 4.2.3 offline cannot fetch @com_google_protobuf for proto_library, so a genrule
    runs the system protoc and grpc_cpp_plugin. Import paths and generated include paths
    are relative to this package: reca/v1/foo.proto -> #include "reca/v1/foo.pb.h",
    plus foo.grpc.pb.h and foo_mock.grpc.pb.h (the latter needs //third_party:gtest).
    `deps` are other reca_cc_proto targets of this package whose protos `srcs` import.
    """
    outs = []
    for src in srcs:
        if not src.endswith(".proto"):
            fail("reca_cc_proto: %s is not a .proto file" % src)
        base = src[:-len(".proto")]
        outs += [base + ext for ext in [".pb.h", ".pb.cc", ".grpc.pb.h", ".grpc.pb.cc", "_mock.grpc.pb.h"]]

    root = native.package_name() or "."
    native.filegroup(
        name = name + "_protos",
        srcs = srcs + [dep + "_protos" for dep in deps],
        visibility = visibility,
        testonly = testonly,
    )
    native.genrule(
        name = name + "_gen",
        srcs = srcs + [dep + "_protos" for dep in deps],
        outs = outs,
        cmd = ("plugin=$$(command -v grpc_cpp_plugin) && " +
               "protoc -I{root} --cpp_out=$(RULEDIR) " +
               "--grpc_out=generate_mock_code=true:$(RULEDIR) " +
               "--plugin=protoc-gen-grpc=$$plugin {srcs}").format(
            root = root,
            srcs = " ".join(["$(location %s)" % s for s in srcs]),
        ),
        message = "protoc " + ", ".join(srcs),
        testonly = testonly,
    )
    cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        # -isystem for the generated code: reca/v1/foo.pb.h resolves from the package
        # root, and warnings in generated code are not ours to fix.
        includes = ["."],
        deps = deps + ["//third_party:grpc"],
        visibility = visibility,
        testonly = testonly,
    )
