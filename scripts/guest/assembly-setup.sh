# Boot 0 of the boot-assembly test (scripts/assembly.sh), without udev: format the NVDIMM,
# make the cache set (cache vda marked NVDIMM_META, backing vdb, writeback) with the module
# modprobe finds (make install's updates/bcache.ko), and record that no round wrote yet.
. /guest/assembly-lib.sh
check nvm-format bcache-nvm format /dev/pmem0
check modprobe modprobe bcache
check module-from-updates grep -qx 0.1.0 /sys/module/bcache/version
check register-meta sh -c "echo /dev/pmem0 > $S/register_nvdimm_meta"
check make-bcache make-bcache -b 128k -C /dev/vda -B /dev/vdb --writeback
check mark-cache bcache-nvm make-cache --nvdimm-meta /dev/vda
check register-cache sh -c "echo /dev/vda > $S/register"
check register-backing sh -c "echo /dev/vdb > $S/register"
check bcache0 wait_for /dev/bcache0
check journal-on-nvdimm sh -c "dmesg | grep -q 'journal on the NVDIMM'"
start_round 0 none 0
umount $AUX
sync
finish
