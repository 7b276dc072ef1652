# KUnit: loads the KUnit build of bcache.ko (its suites run at load) and prints their KTAP
# between markers for the host to parse.
. /guest/lib.sh
insmod /lib/modules/bcache-kunit.ko || { fail kunit-load "insmod failed"; finish; }
for d in /sys/kernel/debug/kunit/*/; do
	[ -f "$d/results" ] || continue
	case "$(basename "$d")" in bcache_nvm*) ;; *) continue ;; esac
	echo "KTAP-BEGIN"
	cat "$d/results"
	echo "KTAP-END"
done
check kunit-unload rmmod bcache
finish
