#!/usr/bin/env bash
# Fault injection in the guest (scripts/guest/fault-inject.sh) on the debug kernel: failslab
# during register_nvdimm_meta and a new cache set's start, fail_make_request on the cache
# disk during writes and during the journal's PREFLUSH. Builds the module and initramfs for
# the debug kernel first (the kernel itself must be built: BCACHE_NVM_KERNEL=debug
# scripts/setup.sh), boots one guest (q35: no 30 s ACPI loop per boot under KASAN) and
# exits with the guest script's status.
#
#   fault-inject.sh [--no-build] [MAXK [CASES [K1 [STEP]]]]
#
# MAXK bounds each failslab loop (default 3000); CASES picks cases (default 123).
export BCACHE_NVM_KERNEL=debug
export BNVM_MACHINE=${BNVM_MACHINE:-q35}
source "$(dirname "$0")/lib.sh"

build=1
[ "${1:-}" = --no-build ] && { build=0; shift; }
[ $build = 0 ] || "$REPO/scripts/build.sh" || die "fault-inject: build failed"
exec "$REPO/scripts/vm.sh" --timeout 900 fault-inject.sh "$@"
