#!/usr/bin/env bash
# Runs Go test packages on every kernel of the matrix (stock Debian cloud kernels
# 6.1 and 6.12 under qemu), where BPF LSM, fentry and kprobes work for real.
#
# Usage: .ci/vm/run.sh [PACKAGES...]
#   default: ./receiver/ebpfreceiver/internal/features/ ./receiver/ebpfreceiver/internal/sensor/
# Env:   VIGIL_VM_KERNELS   kernels to boot, release prefixes or vmlinuz paths (default: what
#                           fetch-kernels.sh fetches, i.e. the current 6.1 and 6.12)
#        VIGIL_VM_TESTFLAGS extra test binary flags, e.g. "-test.run=TestLSM" (default none)
#        VIGIL_VM_TIMEOUT   seconds before a guest is killed (default here 3400, above the
#                           test timeout; vmexec.sh alone defaults to 600)
#        VIGIL_VM_PARALLEL  guests run side by side (default: nproc; 1 runs the kernels in turn)
#        and those of vmexec.sh / fetch-kernels.sh.
# Exits non-zero when any package fails (or a guest does not come back) on any kernel.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/../.."

pkgs=("$@")
if ((${#pkgs[@]} == 0)); then
  pkgs=(./receiver/ebpfreceiver/internal/features/ ./receiver/ebpfreceiver/internal/sensor/)
fi

if [[ -n "${VIGIL_VM_KERNELS:-}" ]]; then
  read -r -a kernels <<<"$VIGIL_VM_KERNELS"
else
  mapfile -t kernels < <("$here/fetch-kernels.sh")
fi
((${#kernels[@]} > 0)) || { echo "run.sh: no kernels" >&2; exit 2; }

bindir="$(mktemp -d "${TMPDIR:-/tmp}/vigil-vm-tests.XXXXXX")"
trap 'rm -rf "$bindir"' EXIT

start=$SECONDS
# Build every test binary once; the guests have no libc, hence CGO_ENABLED=0.
bins=() dirs=() names=()
for pkg in "${pkgs[@]}"; do
  dir="$(go list -f '{{.Dir}}' "$pkg")"
  name="$(go list -f '{{.ImportPath}}' "$pkg")"
  bin="$bindir/$(basename "$dir")-$((${#bins[@]} + 1)).test"
  CGO_ENABLED=0 go test -c -o "$bin" "$pkg"
  if [[ ! -x "$bin" ]]; then
    echo "run.sh: $name has no tests, skipped" >&2
    continue
  fi
  bins+=("$bin") dirs+=("$dir") names+=("$name")
done
echo "run.sh: built ${#bins[@]} test binaries in $((SECONDS - start)) s"

# Per package and kernel. The sensor package runs every security-hook test on both builds,
# each loading its own sensors (about 30 s per build under TCG) and running helper binaries:
# 25 to 35 min per kernel once the file-name, task-key and bind-mount tests came in (15 and
# then 25 min were exceeded). qemu's own guard (vmexec.sh) must outlast it, so that a slow
# test fails with its stack trace instead of a killed guest booted once more.
test_timeout=55m
export VIGIL_VM_TIMEOUT="${VIGIL_VM_TIMEOUT:-3400}"

# The kernels run side by side: a guest's TCG runs on one host thread (thread=single),
# so on 2 cores two guests take the time of one. VIGIL_VM_PARALLEL=1 runs them in turn.
parallel="${VIGIL_VM_PARALLEL:-$(nproc)}"

# run_kernel KERNEL INDEX: every package on one kernel; output in $bindir/log-INDEX,
# summary lines in $bindir/sum-INDEX, 1 in $bindir/failed-INDEX on a failure.
run_kernel() {
  local kernel=$1 k=$2 kname i t0 rc attempt res
  kname="$(basename "$kernel")"
  kname="${kname#vmlinux-}"
  kname="${kname#vmlinuz-}"
  : >"$bindir/sum-$k"
  for i in "${!bins[@]}"; do
    echo "=== kernel $kname: ${names[$i]}"
    t0=$SECONDS
    # An emulated guest that never reports a result (exit 125: boot failure, hang,
    # soft lockup under TCG) is booted once more; a test that ran and failed is a
    # failure at once. Both guest runs are printed in full.
    for attempt in 1 2; do
      rc=0
      # Go runs test binaries in the package directory (testdata/); do the same.
      # shellcheck disable=SC2086 # VIGIL_VM_TESTFLAGS is a list of flags
      (cd "${dirs[$i]}" && "$here/vmexec.sh" "$kernel" "${bins[$i]}" \
        -test.v -test.count=1 -test.timeout="$test_timeout" ${VIGIL_VM_TESTFLAGS:-}) || rc=$?
      if ((rc != 125)) || ((attempt == 2)); then break; fi
      echo "run.sh: the guest gave no result (exit 125); booting it once more"
    done
    if ((rc == 0)); then res=ok; else res="FAIL (exit $rc)"; echo 1 >"$bindir/failed-$k"; fi
    if ((rc == 0 && attempt == 2)); then res="ok (2nd boot)"; fi
    printf '%-34s %-60s %-14s %4d s\n' "$kname" "${names[$i]}" "$res" $((SECONDS - t0)) >>"$bindir/sum-$k"
  done
}

pids=()
running=0
for k in "${!kernels[@]}"; do
  if ((parallel > 1)); then
    # At most $parallel guests at once.
    if ((running >= parallel)); then
      wait -n || true
      running=$((running - 1))
    fi
    run_kernel "${kernels[$k]}" "$k" >"$bindir/log-$k" 2>&1 &
    pids+=("$!")
    running=$((running + 1))
  else
    run_kernel "${kernels[$k]}" "$k" 2>&1 | tee "$bindir/log-$k"
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || true; done

failed=0
for k in "${!kernels[@]}"; do
  if ((parallel > 1)); then cat "$bindir/log-$k"; fi
  if [[ -e "$bindir/failed-$k" ]]; then failed=1; fi
done

echo
echo "=== kernel matrix summary"
for k in "${!kernels[@]}"; do cat "$bindir/sum-$k"; done
echo "total $((SECONDS - start)) s"
exit "$failed"
