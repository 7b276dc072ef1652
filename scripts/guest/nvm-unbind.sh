# The namespace's driver unbinds under a registered meta device (echo namespace0.0 >
# /sys/bus/nd/drivers/nd_pmem/unbind): never an oops. With no cache set using it, the set is
# unregistered and the unbind goes through; with a running cache set (its journal lives in the
# mapping), the unbind waits until the set is stopped, and dmesg says which.
. /guest/lib.sh
S=/sys/fs/bcache
D=/sys/bus/nd/drivers/nd_pmem

check load insmod /lib/modules/bcache.ko
check format bcache-nvm format /dev/pmem0
check register-meta sh -c "echo /dev/pmem0 > $S/register_nvdimm_meta"
ns=$(basename "$(readlink -f /sys/block/pmem0/device)")
check namespace-found sh -c "[ -e $D/$ns ]"

dmesg -c >/dev/null
check unbind-idle sh -c "echo $ns > $D/unbind"
check idle-set-released sh -c "! grep -q '^ns ' $S/nvdimm_meta"
check idle-dmesg sh -c "dmesg | grep -q 'device going away; set unregistered'"
check rebind sh -c "echo $ns > $D/bind && sleep 1 && [ -b /dev/pmem0 ]"
check register-again sh -c "echo /dev/pmem0 > $S/register_nvdimm_meta"

check make-bcache make-bcache -b 128k -C /dev/vda
check mark-cache bcache-nvm make-cache --nvdimm-meta /dev/vda
u=$(cset)
check start-set sh -c "echo /dev/vda > $S/register"
check set-running wait_for "$S/$u"
dmesg -c >/dev/null
echo "$ns" > $D/unbind &
unbind=$!
sleep 3
check unbind-waits kill -0 $unbind
check busy-dmesg sh -c "dmesg | grep -q 'the unbind waits for 1 running cache set'"
check set-still-running sh -c "[ -e $S/$u ] && grep -q '^ns 0 ' $S/nvdimm_meta"
check stop-set sh -c "echo 1 > $S/$u/stop"
n=200
while kill -0 $unbind 2>/dev/null && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
check unbind-finished sh -c "! kill -0 $unbind 2>/dev/null"
check namespace-gone sh -c "[ ! -b /dev/pmem0 ] && ! grep -q '^ns ' $S/nvdimm_meta"
check busy-released-dmesg sh -c "dmesg | grep -q 'device going away; set unregistered'"
finish
