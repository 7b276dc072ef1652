# Power-cut test, crash boot of round ROUND (arg 1): bring up bcache0, run fio's random
# write job with verify headers, then touch fio's trigger file once writes are flowing.
# fio (local mode) then saves its verify state (completed writes, in-flight ones) to
# /mnt/aux (a fresh ext2 on vdc) and runs the trigger command, which prints BNVM-CRASHING and crashes the kernel
# with sysrq c. nvm-powercut-verify.sh checks the writes next boot.
. /guest/nvm-powercut-common.sh
MINW=200   # completed writes before the crash point may be chosen
pc_register
check mke2fs-aux mke2fs -F /dev/vdc
pc_mount_aux sync
[ "$failures" = 0 ] || finish
echo 1 > /proc/sys/kernel/sysrq
rm -f /tmp/pc-trigger

# The trigger command, run by fio (system()) right after it saved its state: the state is
# already on vdc (mounted -o sync), so nothing else runs between the snapshot and the crash.
trigger="echo; echo BNVM-CRASHING; echo c > /proc/sysrq-trigger"

echo "round $ROUND: fio $JOB"
fio $JOB --do_verify=0 --verify_state_save=1 --eta=never \
	--trigger-file=/tmp/pc-trigger --trigger="$trigger" &
fio_pid=$!

# Wait for MINW completed writes, then a random 0-2 s more: the crash lands mid-run.
n=600
while [ "$(pc_writes)" -lt "$MINW" ] && [ $n -gt 0 ] && kill -0 $fio_pid 2>/dev/null; do
	sleep 0.1; n=$((n - 1))
done
d=$((RANDOM % 21))
delay=$((d / 10)).$((d % 10))
echo "$(pc_writes) writes completed; trigger in $delay s"
sleep $delay
touch /tmp/pc-trigger
wait $fio_pid
fail crash "fio ended before the crash (rc $?, $(pc_writes) writes): raise MIB"
finish
