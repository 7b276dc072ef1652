# Power-cut test, verify boot of round ROUND (arg 1): bcache replays its journal from the
# NVDIMM, then fio's verify_only run of the same job, with the state the crash boot saved,
# reads back every write fio had seen completed and checks its crc32c and header.
. /guest/nvm-powercut-common.sh
pc_register
pc_mount_aux ro
check state-saved test -s $AUX/local-pcjob-0-verify.state
ls -l $AUX/local-pcjob-0-verify.state
fio $JOB --verify_only --verify_state_load=1 > /tmp/fio.out 2>&1
rc=$?
grep -E 'verify|err=|read:|issued rwts' /tmp/fio.out | head -n 20
if [ $rc = 0 ] && ! grep -q 'verify:' /tmp/fio.out; then
	pass fio-verify
else
	fail fio-verify "fio rc $rc: $(grep -m 3 -E 'verify:|err=' /tmp/fio.out | tr '\n' ' ')"
fi
finish
