# Cross-build for linux/arm64 (Graviton) on an x86-64 Debian machine with
# Debian's cross compiler and the arm64 libraries through multiarch
# (scripts/arm64-check.sh installs and uses it):
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DORT_ROOT=...
# Tests run under qemu-user (qemu-aarch64-static, called directly: the arm64
# loader and libraries are where multiarch puts them, no binfmt needed).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static)
# pkg-config answers for the arm64 libraries only.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
# Debian 12's aarch64-linux-gnu-gcc 12.2 stops with an internal compiler
# error (vect_transform_reduction) on the fmax reduction in src/infer/batch.c
# at -O3's loop vectorizer; without it the C code computes the same values
# (no -ffast-math: float loops are not reordered either way).
set(CMAKE_C_FLAGS_INIT "-fno-tree-loop-vectorize")
