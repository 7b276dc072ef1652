# KUnit: loads the KUnit build of bcache.ko (its suites run at load) and prints their KTAP
# between markers for the host to parse.
#   kunit.sh [format]   format: give /dev/pmem0 a fresh nvm-pages format first (first boot)
. /guest/lib.sh
if [ "${1:-}" = format ]; then
	check kunit-format bcache-nvm format --force /dev/pmem0
fi
insmod /lib/modules/bcache-kunit.ko || { fail kunit-load "insmod failed"; finish; }
for d in /sys/kernel/debug/kunit/*/; do
	[ -f "$d/results" ] || continue
	case "$(basename "$d")" in bcache_nvm*) ;; *) continue ;; esac
	echo "KTAP-BEGIN"
	cat "$d/results"
	echo "KTAP-END"
done
check kunit-unload rmmod bcache
# What the KUnit cases left on the namespace must still be a clean nvm-pages set.
# KUNIT_SET names every namespace of the set when /dev/pmem0 is not alone.
check kunit-left-clean bcache-nvm check ${KUNIT_SET:-/dev/pmem0}
finish
