#!/usr/bin/env bash
# Runs one static test binary as the only program of a stock kernel booted under qemu (TCG).
#
# Usage: .ci/vm/vmexec.sh KERNEL BINARY [ARGS...]
#   KERNEL  a vmlinuz path, or a release prefix of a kernel cached by fetch-kernels.sh ("6.1", "6.12")
#   BINARY  a static executable (build Go tests with CGO_ENABLED=0 go test -c)
# Made for `go test -exec "$PWD/.ci/vm/vmexec.sh 6.12" ./pkg/`: go test appends the test binary
# and its -test.* flags and reads the usual output from our stdout.
#
# The guest's /init (busybox) mounts proc, sys, devtmpfs, tmpfs, bpffs, securityfs, tracefs and
# cgroup2, brings lo up, runs BINARY ARGS with its output on the second serial port (a host file)
# and prints an exit-code marker on the console before `poweroff -f`. This script prints the
# binary's output and exits with its exit code. When no marker comes back (boot failure, kernel
# panic, hang past the timeout) it exits 125 with the tail of the console log: never a pass.
#
# The guest sees VIGIL_VM_KERNEL=<kernel release> (so tests know they run in the VM) and CI.
# A testdata/ directory in the current directory (go test runs the binary in the package
# directory) is copied into the guest, which starts the binary in that copy.
#
# Env: VIGIL_KERNEL_DIR   where fetch-kernels.sh caches kernels (default $HOME/.cache/vigil/kernels)
#      VIGIL_VM_TIMEOUT   seconds before qemu is killed (default 600)
#      VIGIL_VM_MEM       guest memory (default 1024M); VIGIL_VM_SMP (default 2)
#      VIGIL_VM_APPEND    extra kernel command line (e.g. "lsm=...")
#      VIGIL_VM_KEEP=1    keep the scratch directory (initramfs, console.log, out.log) and print it
#      BUSYBOX            static busybox to put in the initramfs (default: busybox in PATH)
set -euo pipefail

die() { echo "vmexec: $*" >&2; exit 125; }

(($# >= 2)) || die "usage: $0 KERNEL BINARY [ARGS...]"
kernel_arg="$1"
binary="$2"
shift 2

kernel_dir="${VIGIL_KERNEL_DIR:-${VIGIL_CACHE_DIR:-$HOME/.cache/vigil}/kernels}"
if [[ -f "$kernel_arg" ]]; then
  kernel="$kernel_arg"
else
  # "6.1" must not match 6.12: the release prefix is followed by "." or "-".
  kernel="$(ls "$kernel_dir"/vmlinuz-"$kernel_arg".* "$kernel_dir"/vmlinuz-"$kernel_arg"-* 2>/dev/null | sort -V | tail -n1 || true)"
  [[ -n "$kernel" ]] || die "no kernel '$kernel_arg' in $kernel_dir (run .ci/vm/fetch-kernels.sh)"
fi
release="$(basename "$kernel")"
release="${release#vmlinuz-}"

[[ -x "$binary" ]] || die "$binary is not an executable file"
if grep -qa -e '/lib64/ld-linux' -e '/lib/ld-linux' -e '/lib/ld-musl' "$binary"; then
  die "$binary is dynamically linked; the initramfs has no libc: build it with CGO_ENABLED=0"
fi
busybox="${BUSYBOX:-$(command -v busybox || true)}"
[[ -x "$busybox" ]] || die "busybox not found (install busybox-static: .ci/vm/install-deps.sh)"
if grep -qa -e '/lib64/ld-linux' -e '/lib/ld-linux' "$busybox"; then
  die "$busybox is dynamically linked: install busybox-static"
fi
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found (.ci/vm/install-deps.sh)"
command -v cpio >/dev/null || die "cpio not found (.ci/vm/install-deps.sh)"

work="$(mktemp -d "${TMPDIR:-/tmp}/vigil-vm.XXXXXX")"
if [[ "${VIGIL_VM_KEEP:-}" == 1 ]]; then
  echo "vmexec: keeping $work" >&2
else
  trap 'rm -rf "$work"' EXIT
fi

# Single-quote for the guest's sh: ' becomes '\''.
shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,root,test}
cp "$busybox" "$root/bin/busybox"
cp "$binary" "$root/test/$(basename "$binary")"
if [[ -d testdata ]]; then cp -r testdata "$root/test/testdata"; fi

guest_cmd="$(shq "/test/$(basename "$binary")")"
for a in "$@"; do guest_cmd+=" $(shq "$a")"; done

{
  cat <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin HOME=/root TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t bpf bpf /sys/fs/bpf
mount -t securityfs securityfs /sys/kernel/security
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
stty -F /dev/ttyS1 raw -echo
INIT
  echo "export VIGIL_VM_KERNEL=$(shq "$release")"
  if [[ -n "${CI:-}" ]]; then echo "export CI=$(shq "$CI")"; fi
  echo "cd /test"
  echo "echo \"vmexec: /init started at uptime \$(cut -d\" \" -f1 /proc/uptime)s\" >/dev/ttyS0"
  echo "$guest_cmd >/dev/ttyS1 2>&1 </dev/null"
  cat <<'INIT'
rc=$?
echo "VIGIL-VM-EXIT:$rc:END at uptime $(cut -d" " -f1 /proc/uptime)s" >/dev/ttyS0
sync
poweroff -f
INIT
} >"$root/init"
chmod 755 "$root/init"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) >"$work/initramfs.cpio"

: >"$work/console.log"
: >"$work/out.log"
rc=0
# thread=single: with multi-threaded TCG, the kernel's live code patching (jump
# labels toggled when syscall tracepoints attach) races a vCPU running that code
# and oopses on a stale int3 now and then; one host thread keeps it coherent.
timeout -k 10 "${VIGIL_VM_TIMEOUT:-600}" qemu-system-x86_64 \
  -accel tcg,thread=single -nodefaults -no-user-config -display none -no-reboot \
  -m "${VIGIL_VM_MEM:-1024M}" -smp "${VIGIL_VM_SMP:-2}" -cpu max \
  -serial "file:$work/console.log" -serial "file:$work/out.log" \
  -kernel "$kernel" -initrd "$work/initramfs.cpio" \
  -append "console=ttyS0 panic=-1 no_timer_check ${VIGIL_VM_APPEND:-}" \
  </dev/null >"$work/qemu.log" 2>&1 || rc=$?

cat "$work/out.log"

marker="$(grep -ao 'VIGIL-VM-EXIT:[0-9]*:END' "$work/console.log" | tail -n1 || true)"
if [[ -z "$marker" ]]; then
  {
    echo "vmexec: FAIL: no exit marker from the guest (kernel $release, qemu exit $rc$( ((rc == 124)) && echo ': timed out'))"
    echo "vmexec: --- qemu output ---"
    tail -n 20 "$work/qemu.log"
    echo "vmexec: --- last 40 lines of the guest console ---"
    tail -n 40 "$work/console.log"
  } >&2
  exit 125
fi
code="${marker#VIGIL-VM-EXIT:}"
code="${code%:END}"
exit "$code"
