# Power-cut test, boot 0 (scripts/powercut.sh): format the NVDIMM, make the cache set
# (cache vda with its journal on the NVDIMM, backing vdb, writeback), sync and power off.
# (vdc, for fio's verify state, gets a fresh ext2 in each crash boot.)
. /guest/nvm-powercut-common.sh
check nvm-format bcache-nvm format /dev/pmem0
check load insmod /lib/modules/bcache.ko
check register-meta sh -c "echo /dev/pmem0 > $S/register_nvdimm_meta"
check make-bcache make-bcache -b 128k -C /dev/vda -B /dev/vdb --writeback
check mark-cache bcache-nvm make-cache --nvdimm-meta /dev/vda
check register-cache sh -c "echo /dev/vda > $S/register"
check register-backing sh -c "echo /dev/vdb > $S/register"
check bcache0 wait_for /dev/bcache0
check journal-on-nvdimm sh -c "dmesg | grep -q 'journal on the NVDIMM'"
check writeback grep -q '\[writeback\]' /sys/block/bcache0/bcache/cache_mode
sync
finish
