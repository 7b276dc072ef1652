# Which flushes reach which disk (patch 0006), counted in the disks' own statistics
# (/sys/block/vdX/stat field 16: flush requests completed; both disks have a volatile
# write cache in the guest, so every flush sent is counted):
# 1. writeback mode, 100 x (4 KiB write + fsync): the cache disk is flushed for each fsync
#    (the jset's PREFLUSH), the backing disk never;
# 2. writethrough, the same: each fsync follows a write that went straight to the backing
#    disk, so the backing disk is flushed for each;
# 3. 20 fsyncs with nothing written: no disk needs a flush (fewer than one each on the cache
#    disk: only bcache's own background writes since may need one);
# 4. writeback of the dirty data of 1: flushes of the backing disk before the keys turn
#    clean, fewer than the keys written back (one flush serves a batch).
# The stock bcache.ko fails 1 (it forwards every fsync), 3 (a PREFLUSH per jset) and 4 (no
# flush at all).
. /guest/lib.sh
B=/sys/block/bcache0/bcache
flushes() { awk '{ print $16 }' "/sys/block/$1/stat"; }
# fsync_writes N OFFSET: N random 4 KiB direct writes to bcache0 within 32 MiB from OFFSET,
# each followed by an fsync (fio's fsync=1 syncs before the next write, end_fsync=1 after
# the last).
fsync_writes() {
	fio --name=f --filename=/dev/bcache0 --rw=randwrite --bs=4k --offset="$2" --size=32m \
		--io_size=$(($1 * 4))k --direct=1 --ioengine=psync --fsync=1 --end_fsync=1 \
		--output=/tmp/fio.out >/dev/null
	sleep 1 # the disks' statistics count a flush after its waiter may have woken
}
# delta DISK BEFORE: flushes of DISK since BEFORE.
delta() { echo $(($(flushes "$1") - $2)); }

check load insmod /lib/modules/bcache.ko
new_cache_set nvdimm
echo 0 > $B/writeback_running
echo 0 > $B/sequential_cutoff
u=$(cset)
sync /dev/bcache0 # the first flush after registration goes to every disk
sleep 1

a=$(flushes vda) b=$(flushes vdb)
check fsync-writeback fsync_writes 100 0
da=$(delta vda "$a") db=$(delta vdb "$b")
echo "writeback: 100 fsyncs: cache flushes $da, backing flushes $db, dirty $(cat $B/dirty_data), $(cat $B/state)"
check cache-flushed-per-fsync test "$da" -ge 100
check backing-not-flushed test "$db" = 0

echo writethrough > $B/cache_mode
sleep 1
a=$(flushes vda) b=$(flushes vdb)
check fsync-writethrough fsync_writes 100 32m
da=$(delta vda "$a") db=$(delta vdb "$b")
echo "writethrough: 100 fsyncs: cache flushes $da, backing flushes $db"
check backing-flushed-per-fsync test "$db" -ge 100
echo "after writethrough: dirty $(cat $B/dirty_data), $(cat $B/state)"
echo writeback > $B/cache_mode
sleep 1

a=$(flushes vda) b=$(flushes vdb)
i=0
while [ $i -lt 20 ]; do sync /dev/bcache0; i=$((i + 1)); done
sleep 1
da=$(delta vda "$a") db=$(delta vdb "$b")
echo "nothing written: 20 fsyncs: cache flushes $da, backing flushes $db"
check idle-fsync-no-backing-flush test "$db" = 0
check idle-fsync-fewer-cache-flushes test "$da" -lt 20

echo "dirty data before writeback: $(cat $B/dirty_data)"
b=$(flushes vdb)
done0=$(cat /sys/fs/bcache/$u/internal/writeback_keys_done 2>/dev/null || echo 0)
echo 0 > $B/writeback_percent
echo 1 > $B/writeback_running
n=600
while ! grep -q clean $B/state && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
check writeback-done grep -q clean $B/state
keys=$(($(cat /sys/fs/bcache/$u/internal/writeback_keys_done 2>/dev/null || echo 0) - done0))
db=$(delta vdb "$b")
echo "writeback: $keys keys written back, backing flushes $db"
check writeback-flushed-backing test "$db" -ge 1
check writeback-batched-flushes test "$db" -lt "$keys"
finish
