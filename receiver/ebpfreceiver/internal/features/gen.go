package features

//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror -D__TARGET_ARCH_x86" -target amd64 -type inode_key probes ../../../../bpf/probes.bpf.c -- -I../../../../bpf/headers
