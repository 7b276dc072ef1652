# Power cut that loses the disks' volatile caches (scripts/powercut-flush.sh), boot ROUND
# (arg 1) of the same images: vda and vdb go through QEMU's blklogwrites, and after the
# cut the host keeps of each disk only what its last flush made durable.
#
#   flush-powercut.sh ROUND RUN [GAP]
#
# ROUND > 1 first checks round ROUND-1: (a) fio's verify_only run of its job on bcache0:
# every write fio saw completed before the flush reads back; (b) the set made clean
# (writeback of everything dirty), the same job verified on the backing device itself at
# its data offset: writeback lost nothing. RUN=1 then runs round ROUND: the cache mode of
# the round, writeback running throughout, fio's verified random writes, unverified writes
# elsewhere and GC about once a second; after a random 2-6 s fio saves its state and stops,
# then ONE flush of bcache0 (fsync of the block device) while the other writers go on, GAP
# tenths of a second (random 0-2 s when not given), then the cut marker: vm.sh kills QEMU.
ROUND=$1 RUN=$2 GAP=${3:-}
set -- "$ROUND" 0
. /guest/nvm-powercut-common.sh
MIB=128          # region of the verified job (must outlast 6 s of writes)
B=/sys/block/bcache0/bcache
MODES="writeback writeback writethrough writearound"

pc_register
check write-cache-vda grep -q 'write back' /sys/block/vda/queue/write_cache
check write-cache-vdb grep -q 'write back' /sys/block/vdb/queue/write_cache
[ "$failures" = 0 ] || finish
uuid=$(cset)

# fio_issued FILE FIELD: the reads (FIELD 1) or writes (2) a fio run issued ("issued rwts";
# a verify_only run counts its dry run's writes as issued writes).
fio_issued() {
	sed -n 's/.*issued rwts: total=\([0-9]*\),\([0-9]*\),.*/\1 \2/p' "$1" | cut -d' ' -f"$2" | head -n 1
}

# stamp TEXT: TEXT with the guest's uptime, for the timing of each phase.
stamp() { echo "[$(cut -d' ' -f1 /proc/uptime) s] $*"; }

# verify_job NAME FILE: round ROUND-1's job verified on FILE with the state it saved. fio
# 3.33's state replay can claim more writes than the write run issued (README); blocks of
# those never-written writes hold older data, so at most that many may fail.
verify_job() {
	local name=$1 file=$2 rc bad verified issued over
	timeout 120 fio $(pc_job $((ROUND - 1)) 0 "$file" $MIB) --verify_only --verify_state_load=1 \
		> /tmp/fio-verify.out 2>&1
	rc=$?
	bad=$(grep -c '^verify:' /tmp/fio-verify.out)
	verified=$(fio_issued /tmp/fio-verify.out 1)
	issued=$(cat $AUX/issued 2>/dev/null)
	over=$((${verified:-0} - ${issued:-0}))
	[ $over -ge 0 ] || over=0
	echo "$name: fio verified ${verified:-?} blocks, the write run issued ${issued:-?}, $bad bad, rc $rc"
	if [ $rc = 0 ] && [ "$bad" = 0 ]; then
		pass "$name"
	elif [ $rc != 124 ] && [ "$bad" -gt 0 ] && [ "$bad" -le "$over" ]; then
		echo "$name: $bad bad blocks, no more than the $over writes fio's state claims beyond those issued"
		pass "$name"
	else
		fail "$name" "fio rc $rc, $bad bad blocks (over-claim $over): $(grep -m 3 -E 'verify:|err=' /tmp/fio-verify.out | tr '\n' ' ')"
	fi
}

# wait_clean: writeback at full speed until the set is clean (bounded, 120 s). Writeback
# runs only while the backing superblock says dirty; after a cut it can say clean while
# journal replay has made keys dirty again (keys that were dirty when journalled, written
# back and marked clean since), so one write in writeback mode, beyond both jobs' regions,
# starts it.
wait_clean() {
	local n=1200
	echo writeback > $B/cache_mode
	dd if=/dev/zero of=/dev/bcache0 bs=4k count=1 seek=$((3 * MIB * 256)) oflag=direct 2>/dev/null
	echo 0 > $B/writeback_percent
	echo 0 > $B/writeback_delay
	echo 1 > $B/writeback_running
	while [ $n -gt 0 ]; do
		grep -qx clean $B/state && grep -qx '0\(\.0k\)\?' $B/dirty_data && return 0
		sleep 0.1
		n=$((n - 1))
	done
	echo "state $(cat $B/state), dirty_data $(cat $B/dirty_data)"
	return 1
}

prev=$((ROUND - 1))
if [ "$ROUND" -gt 1 ]; then
	pc_mount_aux ro
	check "state-saved-$prev" test -s $AUX/local-pcjob-0-verify.state
	stamp "registered; verifying round $prev on bcache0 (dirty $(cat $B/dirty_data), state $(cat $B/state))"
	verify_job "flush-verify-bcache0-$prev" /dev/bcache0
	stamp "waiting for writeback"
	here "clean-$prev" wait_clean
	stamp "clean; verifying round $prev on the backing device"
	# The backing device's data at its offset, read past bcache (loop device, read-only),
	# with nothing of vdb in the page cache from before.
	first=$(bcache-super-show /dev/vdb | awk '$1 == "dev.data.first_sector" { print $2 }')
	echo 3 > /proc/sys/vm/drop_caches
	if check "loop-backing-$prev" losetup -r -o $((${first:-16} * 512)) /dev/loop0 /dev/vdb; then
		verify_job "flush-verify-backing-$prev" /dev/loop0
		losetup -d /dev/loop0
	fi
	umount $AUX
	stamp "round $prev checked"
fi
[ "$RUN" = 1 ] || finish
[ "$failures" = 0 ] || finish

# --- Round ROUND.
mode=$(echo $MODES | cut -d' ' -f$(((ROUND - 1) % 4 + 1)))
check mke2fs-aux mke2fs -q -F /dev/vdc
pc_mount_aux sync
echo "$mode" > $B/cache_mode
# Every write cached in writeback mode (no bypass for sequential or congested I/O), so a
# writeback round's backing disk gets written by writeback alone, and only writeback's own
# flushes make those copies durable (an fsync of bcache0 flushes it only after direct writes).
echo 0 > $B/sequential_cutoff
echo 0 > $S/$uuid/congested_read_threshold_us
echo 0 > $S/$uuid/congested_write_threshold_us
echo 0 > $B/writeback_percent
echo 0 > $B/writeback_delay
echo 1 > $B/writeback_running
check "mode-$mode" grep -q "\[$mode\]" $B/cache_mode
[ "$failures" = 0 ] || finish
# The first fsync after registration flushes the backing disk whatever was written (the flush
# state starts out not knowing what the disk holds): spend it now, so that in a writeback round
# the fsync below does not flush the backing disk and writeback's copies rest on its own flushes.
check "first-flush-$ROUND" sync /dev/bcache0

rm -f /tmp/fp-trigger
touch /tmp/gc-run
(while [ -e /tmp/gc-run ]; do echo 1 > $S/$uuid/internal/trigger_gc; sleep 1; done) &
gc_pid=$!
fio --name=noise --filename=/dev/bcache0 --rw=randwrite --bsrange=4k-64k --offset=${MIB}m \
	--size=${MIB}m --ioengine=libaio --iodepth=4 --direct=1 --time_based --runtime=300 \
	--randseed=$((3000 + ROUND)) --eta=never > /tmp/fio-noise.out 2>&1 &
noise_pid=$!
echo "round $ROUND: $mode; fio $(pc_job "$ROUND" 0 /dev/bcache0 $MIB)"
fio $(pc_job "$ROUND" 0 /dev/bcache0 $MIB) --do_verify=0 --verify_state_save=1 --eta=never \
	--trigger-file=/tmp/fp-trigger > /tmp/fio-write.out 2>&1 &
fio_pid=$!
stamp "round $ROUND: writing"
t=$((20 + RANDOM % 41))
sleep $((t / 10)).$((t % 10))
touch /tmp/fp-trigger
wait $fio_pid
issued=$(fio_issued /tmp/fio-write.out 2)
echo "${issued:-0}" > $AUX/issued
grep -E 'issued rwts|err=' /tmp/fio-write.out
echo "round $ROUND: fio stopped after $((t / 10)).$((t % 10)) s, issued ${issued:-?} verified writes; $(pc_writes) writes on bcache0; dirty $(cat $B/dirty_data)"
check "state-saved-$ROUND" test -s $AUX/local-pcjob-0-verify.state
check "fio-stopped-by-trigger-$ROUND" grep -q 'issued rwts' /tmp/fio-write.out
[ "$failures" = 0 ] || finish
umount $AUX

# The one flush the test relies on: every write fio saw completed is durable after it. The
# unverified writes, GC and writeback go on through it and until the cut, GAP tenths of a
# second later (random 0-2 s unless given): what they write after it is not promised.
stamp "round $ROUND: verified writes stopped, flushing"
check "flush-$ROUND" sync /dev/bcache0
[ -n "$GAP" ] || GAP=$((RANDOM % 21))
sleep "$((GAP / 10)).$((GAP % 10))"
echo "BNVM-CUT round $ROUND after $((GAP / 10)).$((GAP % 10)) s; dirty $(cat $B/dirty_data)"
sleep 600
