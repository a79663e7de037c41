# Writes a copy of one of etcd's .proto files without its Go-only annotations, so that
# plain protoc + grpc_cpp_plugin accept it. Run at build time:
#   cmake -DIN=<etcd proto> -DOUT=<stripped copy> -P strip_etcd_proto.cmake
#
# etcd's protos (Debian's golang-etcd-server-dev, /usr/share/gocode/src/go.etcd.io/etcd)
# import gogoproto/gogo.proto and google/api/annotations.proto, neither of which ships
# for C++. What depends on them is never part of the wire format:
#   - `import "gogoproto/..."` and `import "google/api/..."` lines,
#   - file and message options `option (gogoproto.xxx) = ...;`,
#   - field options `[(gogoproto.xxx) = ..., ...]`,
#   - the grpc-gateway blocks `option (google.api.http) = { ... };` inside each rpc.
# Their `import "etcd/..."` paths stay as they are: the copies are written under a
# directory laid out the same way.
if(NOT DEFINED IN OR NOT DEFINED OUT)
  message(FATAL_ERROR "strip_etcd_proto.cmake: pass -DIN=<proto> -DOUT=<copy>")
endif()
file(READ "${IN}" text)

string(REGEX REPLACE "import \"(gogoproto|google/api)/[^\"]*\";[^\n]*\n" "" text "${text}")
string(REGEX REPLACE "option \\(gogoproto\\.[a-z_]+\\)[^;]*;[^\n]*\n" "" text "${text}")
# Field options: the whole bracket when every option in it is a gogoproto one.
string(REGEX REPLACE "[ \t]*\\[\\(gogoproto\\.[^]]*\\]" "" text "${text}")
# Gateway blocks span lines (`[^{}]` matches newlines) and nest one level deep
# (`additional_bindings { ... }`).
string(REGEX REPLACE
  "option \\(google\\.api\\.http\\)[ \t\n]*=[ \t\n]*{([^{}]|{[^{}]*})*}[ \t\n]*;" ""
  text "${text}")

if(text MATCHES "gogoproto|google\\.api")
  message(FATAL_ERROR "strip_etcd_proto.cmake: ${IN} still mentions gogoproto or "
                      "google.api after stripping; its layout changed, update this script")
endif()
file(WRITE "${OUT}.tmp" "${text}")
# Only touch OUT when it changed, so protoc and the compiler do not rerun needlessly.
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUT}.tmp" "${OUT}")
file(REMOVE "${OUT}.tmp")
