# Shared by the power-cut scripts (sourced, never run): the fio job, and bringing up
# bcache0 (journal on the NVDIMM) and the scratch filesystem that keeps fio's verify state.
. /guest/lib.sh
S=/sys/fs/bcache
AUX=/mnt/aux     # /dev/vdc (ext2): fio's verify state must survive the crash
ROUND=${1:-1}    # each round gets its own seed: offsets and data differ between rounds,
                 # so a write lost in round k cannot be hidden by round k-1's same block
SYNC=${2:-1}     # 0: plain writes (negative control, see powercut.sh --no-sync)
MIB=64           # region written: must outlast the random crash point

# pc_job ROUND SYNC FILE MIB: the fio job. The write job and its verify run must agree on
# everything that shapes the I/O sequence (rw, bs, size, randseed); sync=1 (O_DSYNC: every
# direct write is REQ_FUA) makes each completion a durability promise, so bcache journals
# it before completing it. FILE may differ (the flush test verifies the backing device).
pc_job() {
	echo "--name=pcjob --filename=$3 --rw=randwrite --bs=4k --size=${4}m
 --ioengine=libaio --iodepth=8 --direct=1 --sync=$2 --verify=crc32c
 --randseed=$((1000 + $1)) --aux-path=$AUX"
}
JOB=$(pc_job "$ROUND" "$SYNC" /dev/bcache0 $MIB)

# Register the NVDIMM meta device, the cache and the backing device; wait for bcache0.
pc_register() {
	check load insmod /lib/modules/bcache.ko
	dmesg -c >/dev/null
	check register-meta sh -c "echo /dev/pmem0 > $S/register_nvdimm_meta"
	check register-cache sh -c "echo /dev/vda > $S/register"
	check register-backing sh -c "echo /dev/vdb > $S/register"
	check bcache0 wait_for /dev/bcache0
	check journal-on-nvdimm sh -c "dmesg | grep -q 'journal on the NVDIMM'"
	dmesg | grep -iE 'journal|replay' | head -n 5
}

# pc_mount_aux OPTS: mounts vdc (ext2) on $AUX. The crash boot makes it afresh and mounts
# it -o sync, so fio's state file is on vdc (data, inode, entry) when its write returns and
# the trigger need not sync; the verify boot mounts it ro. -o sync does not sync ext2's
# bitmaps, so after a crash it is inconsistent: it is never written again, only remade.
pc_mount_aux() {
	mkdir -p $AUX
	check mount-aux mount -t ext2 -o "$1" /dev/vdc $AUX
}

# Writes completed on bcache0 so far (field 5 of its stat file).
pc_writes() { awk '{ print $5 }' /sys/block/bcache0/stat; }
