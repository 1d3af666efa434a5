# Compiles BPF C programs into libbpf skeleton headers:
#   clang -target bpf -g -O2  ->  bpftool gen object (static linking, BTF sanitising)
#   ->  bpftool gen skeleton  ->  <name>.skel.h in ${LOUPE_BPF_GEN_DIR}
# CO-RE only: programs include the committed vmlinux.h and read kernel memory with BPF_CORE_READ.

find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(LOUPE_BPF_ARCH x86_64)
  set(LOUPE_BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(LOUPE_BPF_ARCH arm64)
  set(LOUPE_BPF_TARGET_ARCH arm64)
else()
  message(FATAL_ERROR "unsupported architecture for BPF programs: ${CMAKE_SYSTEM_PROCESSOR}")
endif()

set(LOUPE_BPF_GEN_DIR ${CMAKE_BINARY_DIR}/bpf_gen)
file(MAKE_DIRECTORY ${LOUPE_BPF_GEN_DIR})

# loupe_bpf_skeleton(<name> <source.bpf.c> [DEPENDS headers...])
# Produces ${LOUPE_BPF_GEN_DIR}/<name>.skel.h and adds it to the target `loupe_bpf_skeletons`.
function(loupe_bpf_skeleton name source)
  cmake_parse_arguments(ARG "" "" "DEPENDS" ${ARGN})
  set(src ${CMAKE_CURRENT_SOURCE_DIR}/${source})
  set(raw ${LOUPE_BPF_GEN_DIR}/${name}.raw.o)
  set(obj ${LOUPE_BPF_GEN_DIR}/${name}.bpf.o)
  set(skel ${LOUPE_BPF_GEN_DIR}/${name}.skel.h)
  file(GLOB_RECURSE bpf_headers ${PROJECT_SOURCE_DIR}/bpf/lib/*.h ${PROJECT_SOURCE_DIR}/bpf/intf/*.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -target bpf -g -O2 -Wall -Werror
            -D__TARGET_ARCH_${LOUPE_BPF_TARGET_ARCH}
            -I${PROJECT_SOURCE_DIR}/bpf/include/${LOUPE_BPF_ARCH}
            -I${PROJECT_SOURCE_DIR}/bpf/include
            -I${PROJECT_SOURCE_DIR}
            -c ${src} -o ${raw}
    COMMAND ${BPFTOOL} gen object ${obj} ${raw}
    DEPENDS ${src} ${bpf_headers} ${ARG_DEPENDS}
    COMMENT "BPF ${name}: clang -target bpf + bpftool gen object"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
    DEPENDS ${obj}
    COMMENT "BPF ${name}: bpftool gen skeleton"
    VERBATIM)
  add_custom_target(bpf_${name} DEPENDS ${skel})
  add_dependencies(loupe_bpf_skeletons bpf_${name})
endfunction()
