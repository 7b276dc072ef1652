# A new cache set on a system where udev runs (the README's recipe): the formatted namespace
# is registered by our rule on its own (the "watch" change event after format); make-bcache
# and the NVDIMM_META mark happen while udev's queue is stopped, since bcache-tools' rule
# would otherwise register the cache, unmarked, as soon as make-bcache closes it; when the
# queue starts, udev registers the marked cache with its journal on the NVDIMM.
. /guest/assembly-lib.sh
appear all
check nvm-format bcache-nvm format /dev/pmem0
udevadm settle --timeout=60
check meta-registered-by-rule grep -q ' path /dev/pmem0 ' $S/nvdimm_meta
check stop-queue udevadm control --stop-exec-queue
check make-bcache make-bcache -b 128k -C /dev/vda -B /dev/vdb --writeback
check mark-cache bcache-nvm make-cache --nvdimm-meta /dev/vda
t0=$(now)
check start-queue udevadm control --start-exec-queue
udevadm settle --timeout=60
check bcache0 wait_for /dev/bcache0 $((BOUND * 10))
echo "BCACHE0_TENTHS $(($(now) - t0)) (new cache set)"
check journal-on-nvdimm sh -c "dmesg | grep -q 'journal on the NVDIMM'"
check cache-probed-as-cache sh -c "bcache-nvm probe /dev/vda | grep -qx BCACHE_NVM_ROLE=cache"
check owner-holds-journal sh -c "grep '^owner' $S/nvdimm_meta | grep -qv ' pages 0\$'"
dmesg | grep -E 'bcache|nvm' | tail -n 6
finish
