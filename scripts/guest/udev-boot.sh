# One boot of the boot-assembly test (scripts/assembly.sh), booted like a real system:
# systemd-udevd runs (guest init, udev-*.sh), the devices appear in ORDER (arg 2, see
# assemble in assembly-lib.sh) and udev's rules alone load the module and register the
# namespace, the cache and the backing device. Then the previous boot's fio writes are
# verified, and round ROUND (arg 1) writes its own: MODE (arg 3) clean lets fio finish and
# powers off (bcache's reboot notifier stops the set); crash cuts the power mid-run (sysrq c)
# once fio has saved which writes completed.
. /guest/assembly-lib.sh
watchdog 150
ROUND=$1 ORDER=$2 MODE=$3
MINW=200 # crash: completed writes before the crash point may be chosen
assemble "$ORDER"
[ -e /dev/bcache0 ] || finish
verify_previous
if [ "$MODE" = clean ]; then
	start_round "$ROUND" clean 8
	fio $(job "$ROUND" 8) --do_verify=0 --eta=never > /tmp/fio.out 2>&1
	check fio-write sh -c "grep -q 'err= 0' /tmp/fio.out"
	umount $AUX
	sync
	finish
fi

start_round "$ROUND" crash 64
[ "$failures" = 0 ] || finish
echo 1 > /proc/sys/kernel/sysrq
rm -f /tmp/asm-trigger
# The trigger runs after fio saved its state: the writes bcache0 completed by then (at least
# those fio counts) go to vdc first, so the next boot can tell what fio may verify.
trigger="awk '{ print \$5 }' /sys/block/bcache0/stat > $AUX/writes-at-crash; echo; echo BNVM-CRASHING; echo c > /proc/sysrq-trigger"
fio $(job "$ROUND" 64) --do_verify=0 --verify_state_save=1 --eta=never \
	--trigger-file=/tmp/asm-trigger --trigger="$trigger" &
fio_pid=$!
writes() { awk '{ print $5 }' /sys/block/bcache0/stat; }
n=600
while [ "$(writes)" -lt "$MINW" ] && [ $n -gt 0 ] && kill -0 $fio_pid 2>/dev/null; do
	sleep 0.1; n=$((n - 1))
done
d=$((RANDOM % 21))
echo "$(writes) writes completed; crash in $((d / 10)).$((d % 10)) s"
sleep $((d / 10)).$((d % 10))
touch /tmp/asm-trigger
wait $fio_pid
fail crash "fio ended before the crash ($(writes) writes)"
finish
