#!/usr/bin/env bash
# Every benchmark table and plot in one command (see bench/README.md):
#
#   bench/run.sh [--quick] [--host-only]
#
# 1. host: `cargo run --release -p bench` (alloc_free, register, jset_persist) -> bench/results/
# 2. VM:   scripts/setup.sh + scripts/build.sh (cached kernel, modules, initramfs), then
#          bench/vm/run.sh, if it exists (`--quick` is passed on as `--rounds 1`), then
#          bench/vm/run.sh --hdd (`--quick` passed on), unless --host-only
# 3. the list of result files, those written by this run marked with `*`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
host_args=() vm_args=() hdd_args=() host_only=
for a in "$@"; do
    case $a in
    --quick) host_args=(--quick) vm_args=(--rounds 1) hdd_args=(--quick) ;;
    --host-only) host_only=1 ;;
    *) echo "usage: bench/run.sh [--quick] [--host-only]" >&2; exit 2 ;;
    esac
done

stamp=$(mktemp)
trap 'rm -f "$stamp"' EXIT
rc=0
cd "$root"
echo "== host benchmarks: cargo run --release -p bench -- ${host_args[*]-}"
cargo run --release -p bench -- ${host_args[@]+"${host_args[@]}"} || rc=$?
if [[ -z $host_only && -f $here/vm/run.sh ]]; then
    # The guest needs the test kernel, our modules and an initramfs carrying bench-fio.sh.
    echo "== set-up and build: scripts/setup.sh, scripts/build.sh"
    "$root/scripts/setup.sh" && "$root/scripts/build.sh" || rc=$?
    echo "== VM benchmarks: bench/vm/run.sh ${vm_args[*]-}"
    bash "$here/vm/run.sh" ${vm_args[@]+"${vm_args[@]}"} || rc=$?
    echo "== VM benchmarks, HDD-like backing disk: bench/vm/run.sh --hdd ${hdd_args[*]-}"
    bash "$here/vm/run.sh" --hdd ${hdd_args[@]+"${hdd_args[@]}"} || rc=$?
elif [[ -z $host_only ]]; then
    echo "== no bench/vm/run.sh: VM benchmarks skipped"
fi

echo "== result files (* = written by this run):"
for f in "$here"/results/*; do
    [[ -e $f ]] || continue
    if [[ $f -nt $stamp ]]; then m='*'; else m=' '; fi
    echo "$m ${f#"$root"/}"
done
[[ $rc -eq 0 ]] || echo "== a benchmark failed (exit $rc)" >&2
exit "$rc"
