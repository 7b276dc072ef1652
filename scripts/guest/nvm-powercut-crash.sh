# Power-cut test, crash boot of round ROUND (arg 1): bring up bcache0, run fio's random
# write job with verify headers, then touch fio's trigger file once writes are flowing.
# fio (local mode) then saves its verify state (completed writes, in-flight ones) to
# /mnt/aux and runs the trigger command, which syncs the state, prints BNVM-CRASHING and
# crashes the kernel with sysrq c. nvm-powercut-verify.sh checks the writes next boot.
. /guest/nvm-powercut-common.sh
MINW=200   # completed writes before the crash point may be chosen
pc_register
pc_mount_aux
[ "$failures" = 0 ] || finish
echo 1 > /proc/sys/kernel/sysrq
rm -f $AUX/local-*-verify.state /tmp/pc-trigger

# The trigger command (fio runs it through system() after saving its state).
cat > /tmp/pc-crash <<EOC
ls -l $AUX/local-powercut-0-verify.state
echo "crash after \$(awk '{ print \$5 }' /sys/block/bcache0/stat) writes completed on bcache0"
sync
echo BNVM-CRASHING
echo c > /proc/sysrq-trigger
EOC

echo "round $ROUND: fio $JOB"
fio $JOB --do_verify=0 --verify_state_save=1 \
	--trigger-file=/tmp/pc-trigger --trigger="sh /tmp/pc-crash" &
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
