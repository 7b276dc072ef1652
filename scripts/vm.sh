#!/usr/bin/env bash
# Boots the test kernel in QEMU (TCG) with a file-backed NVDIMM and three virtio disks
# (vda: cache, vdb: backing, vdc: 64 MiB scratch for state that must survive a crash,
# e.g. fio's verify state), runs one guest script from scripts/guest/, prints its output
# and exits with its exit status.
#
#   vm.sh [--state DIR] [--timeout SECONDS] [--expect-crash] [--virtio-pmem]
#         [--log-writes] [--cut-on MARKER] SCRIPT [ARG...]
#
# --state DIR keeps the NVDIMM and disk images in DIR between boots (reboot tests boot twice
# with the same DIR); without it the images are fresh and removed afterwards. A guest that
# panics or hangs fails within the timeout, with the tail of its console printed.
# BNVM_DISK_CACHE sets QEMU's cache mode of the virtio disks (default writeback; the
# benchmarks use none or directsync, so flushes cost what the host's disk makes them cost).
# --expect-crash: the script crashes the guest on purpose (power-cut tests); success is the
# guest having reached the crash trigger, reported by the script as "BNVM-CRASHING".
# --log-writes: the cache (vda) and backing (vdb) disks go through QEMU's blklogwrites
# driver: every write and flush the guest sends them is appended to $state/cache.log and
# $state/backing.log (fresh each boot), and the images as they were before the boot are
# kept as $state/cache.base and backing.base (sparse copies), so that
# tools/logwrites-replay can rebuild what the disks hold if their volatile caches are lost.
# vdc and the NVDIMM are as always (the NVDIMM file is mmap'd shared: every store the
# guest made is in it, whatever happens to QEMU).
# --cut-on MARKER: QEMU is killed (SIGKILL: no flush, no shutdown) as soon as the guest's
# output has a line starting with MARKER; success is the marker having been seen.
source "$(dirname "$0")/lib.sh"

state= timeout=300 expect_crash=0 vpmem=0 logw=0 cut=
while [ $# -gt 0 ]; do
	case "$1" in
	--state) state=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--expect-crash) expect_crash=1; shift ;;
	--virtio-pmem) vpmem=1; shift ;;
	--log-writes) logw=1; shift ;;
	--cut-on) cut=$2; shift 2 ;;
	--) shift; break ;;
	-*) die "vm.sh: unknown option $1" ;;
	*) break ;;
	esac
done
script=${1:?usage: vm.sh [--state DIR] [--timeout S] [--expect-crash] [--log-writes] [--cut-on MARKER] SCRIPT [ARG...]}
shift
[ -f "$REPO/scripts/guest/$script" ] || die "vm.sh: no guest script scripts/guest/$script"
args=$(IFS=,; echo "$*")

# One guest at a time on this machine (2 cores; TCG): a second vm.sh waits for the first.
# BNVM_VM_TIMING=1 prints (stderr) how long the wait and the guest took.
t_lock=$SECONDS
exec 9> "${TMPDIR:-/tmp}/bcache-nvm-vm.lock"
flock 9
t_start=$SECONDS
timing() {
	[ "${BNVM_VM_TIMING:-0}" = 0 ] ||
		echo "vm: $script: $((SECONDS - t_start)) s in QEMU after $((t_start - t_lock)) s waiting for another guest" >&2
}

# The debug kernel runs everything 3-6x slower under TCG: its timeouts are four times as long.
# Its guest is a q35 machine: on "pc" (i440fx) QEMU's ACPI _PRT is an AML loop that, under
# KASAN, runs into ACPICA's 30 s loop timeout up to four times per boot; q35's table is static.
# BNVM_MACHINE overrides the choice; BNVM_APPEND adds to the kernel command line.
machine=pc
if [ "$KVARIANT" = debug ]; then
	machine=q35
	timeout=$((timeout * 4))
fi
machine=${BNVM_MACHINE:-$machine}

KDIR=$(kernel_dir)
initrd=$OUT/initramfs.cpio
[ -f "$KDIR/arch/x86/boot/bzImage" ] || die "vm.sh: no kernel at $KDIR (run scripts/setup.sh)"
[ -f "$initrd" ] || die "vm.sh: no $initrd (run scripts/build.sh)"

if [ -z "$state" ]; then
	state=$(mktemp -d)
	trap 'rm -rf "$state"' EXIT
fi
mkdir -p "$state"
[ -f "$state/nvdimm.img" ] || truncate -s 512M "$state/nvdimm.img"
[ -f "$state/cache.img" ] || truncate -s 512M "$state/cache.img"
[ -f "$state/backing.img" ] || truncate -s 1G "$state/backing.img"
[ -f "$state/scratch.img" ] || truncate -s 64M "$state/scratch.img"

# --virtio-pmem: a second, asynchronous pmem device (virtio-pmem-pci, 128 MiB): DAX whose
# stores are durable only after a flush request to the host.
extra=()
if [ $vpmem = 1 ]; then
	[ -f "$state/vpmem.img" ] || truncate -s 128M "$state/vpmem.img"
	extra+=(-object "memory-backend-file,id=vmem1,share=on,mem-path=$state/vpmem.img,size=128M,align=2M"
		-device virtio-pmem-pci,memdev=vmem1,id=vpmem1)
fi

disk_cache=${BNVM_DISK_CACHE:-writeback}
drives=()
if [ $logw = 1 ]; then
	# -blockdev: image file -> blklogwrites (log in its own file) -> virtio-blk with its
	# write cache on, so the guest sends flushes. Every disk is an explicit -device, in
	# order, so they keep their names (vda, vdb, vdc).
	case "$disk_cache" in
	none | directsync) direct=on ;;
	*) direct=off ;;
	esac
	for d in cache backing; do
		cp --sparse=always --reflink=auto "$state/$d.img" "$state/$d.base"
		: > "$state/$d.log"
		drives+=(-blockdev "driver=file,node-name=${d}-img,filename=$state/$d.img,cache.direct=$direct"
			-blockdev "driver=file,node-name=${d}-log,filename=$state/$d.log"
			-blockdev "driver=blklogwrites,node-name=${d}-lw,file=${d}-img,log=${d}-log"
			-device "virtio-blk-pci,drive=${d}-lw,write-cache=on")
	done
	drives+=(-drive "file=$state/scratch.img,if=none,id=scratch,format=raw,cache=$disk_cache"
		-device virtio-blk-pci,drive=scratch)
else
	for d in cache backing scratch; do
		drives+=(-drive "file=$state/$d.img,if=virtio,format=raw,cache=$disk_cache")
	done
fi
mkdir -p "$OUT/vm-logs"
log_base="$OUT/vm-logs/$script.$(date +%H%M%S).$$"
console="$log_base.console" output="$log_base.out"
: > "$console"; : > "$output"

qemu=(qemu-system-x86_64
	-machine "$machine,nvdimm=on" -accel tcg,thread=single -cpu max -smp 2 -m 1G,slots=2,maxmem=4G
	-object "memory-backend-file,id=mem1,share=on,mem-path=$state/nvdimm.img,size=512M"
	-device nvdimm,id=nvdimm1,memdev=mem1,label-size=128K
	"${drives[@]}"
	"${extra[@]}"
	-kernel "$KDIR/arch/x86/boot/bzImage" -initrd "$initrd"
	-append "console=ttyS0 panic=-1 oops=panic loglevel=4 bnvm.script=$script bnvm.args=$args${BNVM_APPEND:+ $BNVM_APPEND}"
	-display none -monitor none -serial "file:$console" -serial "file:$output"
	-no-reboot)

rc=0
if [ -z "$cut" ]; then
	timeout -k 5 "$timeout" "${qemu[@]}" </dev/null || rc=$?
else
	# QEMU in the background; the guest's output file is polled for the marker, then QEMU
	# gets SIGKILL at once. A guest that ends without the marker, or does not reach it
	# within the timeout, fails.
	"${qemu[@]}" </dev/null &
	qpid=$!
	cut_seen=0
	deadline=$((SECONDS + timeout))
	while kill -0 "$qpid" 2>/dev/null; do
		if grep -q "^$cut" "$output"; then
			kill -KILL "$qpid" 2>/dev/null || true
			cut_seen=1
			break
		fi
		if [ $SECONDS -ge $deadline ]; then
			kill -KILL "$qpid" 2>/dev/null || true
			rc=124
			break
		fi
		sleep 0.05
	done
	wait "$qpid" 2>/dev/null || true
	# The marker may have come with QEMU's own end (the guest powered off right after it).
	[ $cut_seen = 1 ] || [ $rc = 124 ] || ! grep -q "^$cut" "$output" || cut_seen=1
fi

timing
# The guest's output, without the init's markers.
sed -e '/^BNVM-BEGIN /d' -e '/^BNVM-EXIT /d' -e 's/\r$//' "$output"

tail_console() {
	echo "---- console tail ($console) ----" >&2
	tail -n 40 "$console" >&2
}
if [ $rc = 124 ] || [ $rc = 137 ]; then
	echo "vm: $script: guest did not finish within ${timeout}s" >&2
	tail_console
	exit 124
fi
if [ -n "$cut" ]; then
	[ $cut_seen = 1 ] && exit 0
	echo "vm: $script: the guest's output never had the cut marker '$cut'" >&2
	tail_console
	exit 1
fi
if [ $expect_crash = 1 ]; then
	grep -q '^BNVM-CRASHING' "$output" && exit 0
	echo "vm: $script: guest never reached its crash trigger" >&2
	tail_console
	exit 1
fi
status=$(sed -n 's/^BNVM-EXIT \([0-9]*\).*/\1/p' "$output" | tail -n 1)
if [ -z "$status" ]; then
	echo "vm: $script: guest stopped without an exit status (panic or crash)" >&2
	tail_console
	exit 125
fi
exit "$status"
