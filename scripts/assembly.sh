#!/usr/bin/env bash
# Boots that assemble the cache set by themselves, as a real system does: one setup boot
# (no udev: format the NVDIMM, make the cache set), then ten boots of the same images under
# systemd-udevd with bcache-tools' rules and ours, each with the meta device, the cache and
# the backing device appearing in a different order, alternating a clean power-off and a
# crash (sysrq c); each boot reads back with fio what the previous one wrote. Nothing in
# those boots registers anything by hand. Last, a boot where the namespace is held back:
# the cache stays refused (one dmesg line) until the namespace appears.
#
#   assembly.sh [--state DIR]
#
# Prints every boot's PASS/FAIL lines and "assembly: bcache0 appeared within T s of the last
# device in every boot (max M s)"; exits non-zero on a failure.
source "$(dirname "$0")/lib.sh"

state= rc=0
while [ $# -gt 0 ]; do
	case "$1" in
	--state) state=$2; shift 2 ;;
	*) die "usage: assembly.sh [--state DIR]" ;;
	esac
done
if [ -z "$state" ]; then
	state=$(mktemp -d)
	# A failed run keeps its images (and the output) to look at; a passing one removes them.
	trap '[ "$rc" = 0 ] && rm -rf "$state" || echo "assembly: images kept in $state" >&2' EXIT
fi
mkdir -p "$state"
rm -f "$state"/{nvdimm,cache,backing,scratch}.img "$state/assembly.out"

vm=$REPO/scripts/vm.sh
# boot LABEL VM-ARGS...: one boot; its output, PASS/FAIL lines included, and time.
boot() {
	local label=$1 t0=$SECONDS r=0
	shift
	echo "== $label"
	"$vm" --state "$state" "$@" | tee -a "$state/assembly.out"
	r=${PIPESTATUS[0]}
	echo "== $label: rc $r, $((SECONDS - t0)) s"
	if [ $r != 0 ]; then
		echo "FAIL boot-$label: vm.sh exit $r"
		rc=1
	fi
	return $r
}

# The orders (see assemble in scripts/guest/assembly-lib.sh): "all" is a boot's coldplug of
# every device at once; "ns" is the namespace appearing late (ndctl enable, a real "add").
orders=(all vda-vdb-pmem0 pmem0-vda-vdb vdb-vda-pmem0 vda-vdb-ns
	vdb-pmem0-vda pmem0-vdb-vda vda-pmem0-vdb all-ns ns-vda-vdb)

boot setup assembly-setup.sh || { echo "assembly: setup failed"; exit 1; }
for i in "${!orders[@]}"; do
	r=$((i + 1))
	if [ $((r % 2)) = 1 ]; then
		boot "$r-clean-${orders[$i]}" udev-boot.sh "$r" "${orders[$i]}" clean || break
	else
		boot "$r-crash-${orders[$i]}" --expect-crash udev-boot.sh "$r" "${orders[$i]}" crash || break
	fi
done
if [ $rc = 0 ]; then boot late-meta udev-late-meta.sh 5 || true; fi
max=$(awk '$1 == "BCACHE0_TENTHS" && $2 > m { m = $2 } END { print m + 0 }' "$state/assembly.out")
n=$(grep -c '^BCACHE0_TENTHS' "$state/assembly.out" || true)
echo "assembly: /dev/bcache0 appeared in $n boots, at most $((max / 10)).$((max % 10)) s after the last device"
exit $rc
