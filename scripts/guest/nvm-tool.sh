# bcache-nvm format / show / check on the guest's real namespace (/dev/pmem0).
. /guest/lib.sh
dev=/dev/pmem0
check format bcache-nvm format "$dev"
check show sh -c "bcache-nvm show $dev | grep -q nvmpg_sys_alloc"
check show-json sh -c "bcache-nvm show --json $dev | grep -q '\"total_ns\"'"
check check-clean bcache-nvm check "$dev"
check refuse-reformat sh -c "! bcache-nvm format $dev 2>/tmp/err && grep -q 'already has an nvm-pages sb' /tmp/err"
check force-reformat bcache-nvm format --force "$dev"
check check-after-force bcache-nvm check "$dev"
# One flipped byte of the sb magic (offset 4096 + 32): check must name it and fail.
printf 'X' | dd of="$dev" bs=1 seek=$((4096 + 32)) conv=notrunc 2>/dev/null
sync
check check-finds-bad-magic sh -c "bcache-nvm check $dev > /tmp/chk 2>&1; [ \$? != 0 ] && grep -qi magic /tmp/chk"
check refuse-missing sh -c "! bcache-nvm format /dev/nonexistent 2>/tmp/err && grep -q /dev/nonexistent /tmp/err"
finish
