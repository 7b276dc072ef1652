# Boot 2 of the "our module IS bcache" proof: register the same devices again with our
# bcache.ko (bcache replays its journal) and read the pattern of boot 1 back.
. /guest/lib.sh
MIB=${1:-8}
check load-our-bcache insmod /lib/modules/bcache.ko
check register-cache sh -c 'echo /dev/vda > /sys/fs/bcache/register'
check register-backing sh -c 'echo /dev/vdb > /sys/fs/bcache/register'
check bcache0-reappears wait_for /dev/bcache0
check still-dirty sh -c 'grep -q dirty /sys/block/bcache0/bcache/state'
check read-pattern pattern_matches /dev/bcache0 "$MIB"
finish
