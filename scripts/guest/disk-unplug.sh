# A disk of a running cache set goes away under load (its virtio driver unbinds: to bcache
# every I/O to it fails, flushes included): never an oops, a dmesg line naming the disk, the
# set and bcache0 stop or carry on as bcache's rules say, nothing stays pinned, and the
# NVDIMM's lists still check clean.
#   disk-unplug.sh cache    the cache disk (vda) goes: the cache set fails and stops, the
#                           meta device is released and can be unregistered.
#   disk-unplug.sh backing  the backing disk (vdb) goes: writes and flushes on bcache0 fail
#                           (EIO), the writeback thread's backing flushes fail and its data
#                           stays dirty, bcache0 stops; the cache set keeps running.
. /guest/lib.sh
S=/sys/fs/bcache
B=/sys/block/bcache0/bcache
which=${1:?cache or backing}
case $which in
cache) disk=vda ;;
backing) disk=vdb ;;
*) echo "usage: disk-unplug.sh cache|backing"; exit 2 ;;
esac

check load insmod /lib/modules/bcache.ko
new_cache_set nvdimm
u=$(cset)
echo 0 > $B/writeback_percent
echo 0 > $B/writeback_delay 2>/dev/null
# Dirty data being written back, fsyncs and direct writes (writethrough) while the disk goes.
fio --name=load --filename=/dev/bcache0 --rw=randwrite --bs=4k --size=64m --direct=1 \
	--ioengine=libaio --iodepth=8 --fsync=8 --time_based --runtime=8 \
	--output=/tmp/fio.out >/dev/null 2>&1 &
fio=$!
sleep 2
echo writethrough > $B/cache_mode
sleep 1
dev=$(basename "$(readlink -f /sys/block/$disk/device)")
dmesg -c >/dev/null
check unbind-$disk sh -c "echo $dev > /sys/bus/virtio/drivers/virtio_blk/unbind"
wait $fio
echo "fio exit $?: $(grep -o 'err= *[0-9-]*[^,]*' /tmp/fio.out | head -n 1)"
sleep 2
check sync-fails-or-returns sh -c "sync /dev/bcache0 2>/dev/null; true"
dmesg | grep -iE 'bcache|vd[ab]|flush' | head -n 12
check dmesg-names-disk sh -c "dmesg | grep -E 'bcache.*$disk|$disk.*(error|fail)|cache set.*error|backing device.*fail' | grep -q ."

if [ "$which" = cache ]; then
	n=300
	while [ -e "$S/$u" ] && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
	check set-stopped sh -c "[ ! -e $S/$u ]"
	check meta-unpinned eventually 100 sh -c "echo /dev/pmem0 > $S/unregister_nvdimm_meta"
	check lists-check-clean bcache-nvm check /dev/pmem0
else
	check write-fails sh -c "! dd if=/dev/zero of=/dev/bcache0 bs=4k count=1 oflag=direct,sync 2>/dev/null"
	[ -e $B/stop ] && echo 1 > $B/stop
	n=300
	while [ -e /dev/bcache0 ] && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
	check bcache0-stopped sh -c "[ ! -e /dev/bcache0 ]"
	check set-still-running sh -c "[ -e $S/$u ]"
	check stop-set sh -c "echo 1 > $S/$u/stop"
	t0=$(date +%s)
	n=900
	while [ -e "$S/$u" ] && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
	echo "cache set stopped in $(($(date +%s) - t0)) s"
	check set-stopped sh -c "[ ! -e $S/$u ]"
	if [ -e "$S/$u" ]; then
		ls $S; dmesg | tail -n 20; echo w > /proc/sysrq-trigger; dmesg | tail -n 60
	fi
	check meta-unpinned eventually 100 sh -c "echo /dev/pmem0 > $S/unregister_nvdimm_meta"
	check lists-check-clean bcache-nvm check /dev/pmem0
fi
finish
