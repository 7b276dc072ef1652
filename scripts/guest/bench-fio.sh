# Benchmark (issues 6 and 13): one cache set in one of the modes below, then fio runs on it,
# each reported as one machine-readable line
#   RESULT mode=M round=R test=T key=value ...
# for bench/vm/run.sh to collect. Not a test: PASS/FAIL lines only cover the set-up.
#
#   bench-fio.sh MODE ROUND [MIB_FSYNC MIB_SYNC MIB_META META_FSYNC_EVERY]
#   bench-fio.sh hdd MODE ROUND WCACHE SECONDS FLUSH_MS
#
# MODE: nvm       our bcache.ko, journal on the NVDIMM (/dev/pmem0, cache marked NVDIMM_META)
#       ours-ssd  our bcache.ko, journal on the cache disk (no NVDIMM_META)
#       stock     the kernel's bcache-stock.ko (journal on the cache disk), set up by hand
#       raw       (hdd only) no bcache: fio straight on the cache disk /dev/vda
# The cache set: /dev/vda (cache, 128 KiB buckets) caching the backing disk, writeback mode,
# writeback_running 0, sequential_cutoff 0, congestion bypass off (TCG latencies would
# otherwise trip bcache's congested_*_threshold_us and send writes to the backing disk).
#
# First form (issue 6): backing /dev/vdb. Runs (4 KiB, direct=1, ioengine=psync, iodepth 1,
# fixed io_size in MiB):
#   fsync  randwrite, fsync after every write (each fsync: a journal write + a flush of vdb)
#   sync   randwrite, O_SYNC (each write is REQ_FUA on bcache0: waits for its journal write)
#   meta   randwrite over the whole 1 GiB backing range, fsync every META_FSYNC_EVERY writes:
#          /dev/vda writes per GiB written by fio, and journal writes per second
#
# hdd form (issue 13): the backing disk is /dev/mapper/slow, dm-delay over /dev/vdb whose
# flushes (REQ_PREFLUSH bios) wait FLUSH_MS ms before going on to vdb: a disk with a volatile
# write cache and an HDD's flush latency. Its reads wait 50 ms (only the set-up reads the
# backing disk: the 50 puts dm-delay on its timer path; below 50 ms in every class it
# dispatches from a kthread that polls while any bio waits, which would keep one of the two
# vCPUs busy). Its plain writes are not delayed. WCACHE: wb leaves /dev/vda's volatile write
# cache on (QEMU cache=none: flushes become host fdatasync()s); wt sets
# /sys/block/vda/queue/write_cache to "write through", so the block layer drops every flush
# and FUA sent to vda (a cache disk with power-loss protection). Runs: 4 KiB randwrite,
# direct=1, psync, iodepth 1, time based (SECONDS each), fsync=1 and sync=1, each at numjobs
# 1, 4 and 16; every job writes its own region (128 MiB / numjobs, at job * that). Test
# names: fsync-j1 ... sync-j16.
# The fio JSON of each run is printed between "FIOJSON-BEGIN <test>" and "FIOJSON-END".
. /guest/lib.sh

suite=vm
if [ "${1:-}" = hdd ]; then suite=hdd; shift; fi
mode=${1:?usage: bench-fio.sh [hdd] nvm|ours-ssd|stock|raw ROUND ...}
round=${2:-0}
if [ $suite = vm ]; then
	mib_fsync=${3:-8}
	mib_sync=${4:-8}
	mib_meta=${5:-48}
	meta_every=${6:-16}
	backing=/dev/vdb
else
	wcache=${3:-wb}
	seconds=${4:-5}
	flush_ms=${5:-8}
	case "$wcache" in wb|wt) ;; *) echo "bench-fio.sh: WCACHE is wb or wt, not $wcache"; exit 2 ;; esac
	check load-dm-delay insmod /lib/modules/dm-delay.ko
	sectors=$(blockdev --getsz /dev/vdb)
	# dm-delay's table: <dev> <offset> <delay ms> for reads, then writes, then flushes.
	check dm-delay env DM_DISABLE_UDEV=1 dmsetup create slow \
		--table "0 $sectors delay /dev/vdb 0 50 /dev/vdb 0 0 /dev/vdb 0 $flush_ms"
	check dm-node wait_for /dev/mapper/slow
	backing=/dev/mapper/slow
	if [ "$wcache" = wt ]; then
		check vda-write-through sh -c 'echo "write through" > /sys/block/vda/queue/write_cache'
	fi
	[ "$failures" = 0 ] || finish
fi
target=/dev/bcache0

case "$mode" in
nvm)
	check load insmod /lib/modules/bcache.ko
	new_cache_set nvdimm
	;;
ours-ssd)
	check load insmod /lib/modules/bcache.ko
	new_cache_set
	;;
stock)
	# Same geometry and steps as new_cache_set, with the stock module.
	check load-stock insmod /lib/modules/bcache-stock.ko
	check make-bcache make-bcache -b 128k -C /dev/vda -B $backing --writeback
	check register-cache sh -c "echo /dev/vda > /sys/fs/bcache/register"
	check register-backing sh -c "echo $backing > /sys/fs/bcache/register"
	check bcache0 wait_for /dev/bcache0
	;;
raw)
	[ $suite = hdd ] || { echo "bench-fio.sh: mode raw is for the hdd form only"; exit 2; }
	target=/dev/vda
	;;
*) echo "bench-fio.sh: unknown mode $mode"; exit 2 ;;
esac
[ "$failures" = 0 ] || finish

b=/sys/block/bcache0/bcache
set_dir=
if [ $mode != raw ]; then
	check attached wait_for $b/cache
	echo writeback > $b/cache_mode
	echo 0 > $b/sequential_cutoff
	echo 0 > $b/writeback_running
	set_dir=$(cd $b/cache && pwd -P)
	echo 0 > "$set_dir/congested_read_threshold_us"
	echo 0 > "$set_dir/congested_write_threshold_us"
	check writeback-mode grep -q '\[writeback\]' $b/cache_mode
	[ "$failures" = 0 ] || finish
fi
wc_of() { tr ' ' _ < "/sys/block/${1#/dev/}/queue/write_cache"; }
echo "INFO mode=$mode set=${set_dir##*/} vda_write_cache=$(wc_of vda)" \
	"vda_fua=$(cat /sys/block/vda/queue/fua) bcache0_write_cache=$(wc_of bcache0 2>/dev/null)" \
	"kernel=$(uname -r)"
if [ $suite = hdd ]; then
	dm=dm-$(dmsetup info -c --noheadings -o minor slow | tr -d ' ')
	echo "INFO backing=$backing ($dm: write_cache=$(wc_of $dm) fua=$(cat /sys/block/$dm/queue/fua))" \
		"table=$(dmsetup table slow | tr ' ' _) vdb_write_cache=$(wc_of vdb)"
fi

# Journal writes: our module counts every journal write (both paths) in its latency histogram
# (/sys/fs/bcache/journal_latency, "jsets N"); the stock module is counted by its
# bcache_journal_write tracepoint, which fires once per jset bio on the cache-disk path
# (in our module too, so ours-ssd has both counts as a cross-check; never on the NVDIMM path).
lat=/sys/fs/bcache/journal_latency
tr=/sys/kernel/debug/tracing
[ -d $tr/events ] || mount -t tracefs tracefs $tr 2>/dev/null
trace_ok=0
if [ -e $tr/events/bcache/bcache_journal_write/enable ]; then
	echo 16384 > $tr/buffer_size_kb
	echo 1 > $tr/events/bcache/bcache_journal_write/enable && trace_ok=1
fi
jsets() { if [ -r $lat ]; then sed -n 's/^jsets \([0-9]*\).*/\1/p' $lat; else echo -1; fi; }
traced() { if [ $trace_ok = 1 ]; then grep -c bcache_journal_write $tr/trace; else echo -1; fi; }
trace_clear() { [ $trace_ok = 1 ] && : > $tr/trace; }

# Percentiles (µs, upper bucket bounds) of the journal writes between two snapshots of
# journal_latency: prints "P50 P99" (or "- -" without our module or without writes).
lat_snap() { if [ -r $lat ]; then grep '^ns_lt' $lat; fi; }
lat_delta_pct() {
	awk -v before="$1" -v after="$2" 'BEGIN {
		n = split(before, a, "\n"); for (i = 1; i <= n; i++) { split(a[i], f, " "); if (f[2] != "") b[f[2]] = f[3] }
		n = split(after, a, "\n"); tot = 0
		for (i = 1; i <= n; i++) { split(a[i], f, " "); if (f[2] == "") continue
			d[f[2]] = f[3] - b[f[2]]; tot += d[f[2]]; ub[++m] = f[2] }
		if (tot == 0) { print "- -"; exit }
		# bounds are powers of two, listed in increasing order
		s = 0; p50 = ""; p99 = ""
		for (i = 1; i <= m; i++) { s += d[ub[i]]
			if (p50 == "" && s * 100 >= tot * 50) p50 = ub[i]
			if (p99 == "" && s * 100 >= tot * 99) p99 = ub[i] }
		printf "%d %d\n", p50 / 1000, p99 / 1000 }'
}

# The journal latency histogram between two snapshots: " jlat_lt_<ns>=<count>" per bucket
# that gained writes (bucket upper bound in ns).
lat_delta_hist() {
	awk -v before="$1" -v after="$2" 'BEGIN {
		n = split(before, a, "\n"); for (i = 1; i <= n; i++) { split(a[i], f, " "); if (f[2] != "") b[f[2]] = f[3] }
		n = split(after, a, "\n")
		for (i = 1; i <= n; i++) { split(a[i], f, " "); if (f[2] == "") continue
			d = f[3] - b[f[2]]; if (d > 0) printf " jlat_lt_%s=%d", f[2], d } }'
}

# /sys/block/DEV/stat (Documentation/block/stat.rst, 17 fields on 6.12): $5 write I/Os,
# $7 sectors written, $12-$15 discards, $16 flush requests completed, $17 flush ticks.
# The block layer's flush machinery counts each flush request it sends in $16; the request
# that asked for it is counted once in $5 when done (an empty PREFLUSH bio as a 0-sector
# write). virtio-blk has no FUA, so a PREFLUSH|FUA write (the cache-disk journal, btree node
# writes) is PREFLUSH + write + POSTFLUSH; concurrent flush requests may be merged.
dstat() { cat /sys/block/$1/stat; }

# fio's JSON flattened to "path=value" lines ("#" for array elements, jobs[0] only).
fio_flat() {
	awk '{ l = $0; sub(/^[ \t]+/, "", l); sub(/[ \t,]+$/, "", l) }
	l ~ /^"[^"]*" *: *[{[]$/ { k = l; sub(/^"/, "", k); sub(/".*/, "", k); p[++d] = k; next }
	l == "{" || l == "[" { p[++d] = "#"; next }
	l == "}" || l == "]" { d--; next }
	l ~ /^"[^"]*" *: / { k = l; sub(/^"/, "", k); sub(/".*/, "", k); v = l; sub(/^"[^"]*" *: */, "", v)
		gsub(/"/, "", v); s = ""; for (i = 1; i <= d; i++) s = s p[i] "."; print s k "=" v }' "$1"
}
# fio_get FLAT PATH-SUFFIX: the first value whose path ends with the suffix.
fio_get() { awk -F= -v suf="$2" 'index($1, suf) && substr($1, length($1) - length(suf) + 1) == suf { print $2; exit }' "$1"; }
ns_us() { awk -v n="${1:-0}" 'BEGIN { printf "%.1f", n / 1000 }'; }

uptime_cs() { awk '{ split($1, a, "."); print a[1] * 100 + a[2] }' /proc/uptime; }

common="--filename=$target --rw=randwrite --bs=4k --direct=1 --ioengine=psync --iodepth=1"
common="$common --percentile_list=50:99 --output-format=json --randrepeat=0"

run_fio() { # TEST FIO-ARGS...: runs fio, leaves the flat JSON in /tmp/TEST.flat
	local t=$1; shift
	sync
	if ! fio --name="$t" $common "$@" --output=/tmp/$t.json >/tmp/$t.err 2>&1; then
		fail "fio-$t" "$(tail -n 3 /tmp/$t.err | tr '\n' ' ')"
		return 1
	fi
	echo "FIOJSON-BEGIN $t"
	cat /tmp/$t.json
	echo "FIOJSON-END"
	fio_flat /tmp/$t.json > /tmp/$t.flat
}

# One latency run: IOPS, write completion latency, fsync latency, journal writes and their
# latency, flushes seen by vda and vdb; in the hdd form also vdb's read I/Os and sectors
# written (a write bcache sent to the backing disk instead of caching it shows there; vdb's
# write I/O count would not tell, it counts every empty flush as a write).
latency_run() { # TEST FIO-ARGS...
	local t=$1; shift
	local j0 j1 l0 l1 va vb va1 vb1 c0 c1
	j0=$(jsets); trace_clear; l0=$(lat_snap); va=$(dstat vda); vb=$(dstat vdb); c0=$(uptime_cs)
	run_fio "$t" "$@" || return
	c1=$(uptime_cs); j1=$(jsets); l1=$(lat_snap); va1=$(dstat vda); vb1=$(dstat vdb)
	local f=/tmp/$t.flat
	set -- $va; local vw0=$5 vs0=$7 vf0=${16:-0}
	set -- $va1; local vw1=$5 vs1=$7 vf1=${16:-0}
	set -- $vb; local bf0=${16:-0} br0=$1 bs0=$7
	set -- $vb1; local bf1=${16:-0} br1=$1 bs1=$7
	local jw=$((j1 - j0)) tw extra=
	tw=$(traced)
	[ "$j0" = -1 ] && jw=-1
	[ $suite = hdd ] && extra=" wcache=$wcache numjobs=$numjobs vdb_read_ios=$((br1 - br0)) vdb_sectors=$((bs1 - bs0))"
	local hist
	hist=$(lat_delta_hist "$l0" "$l1")
	set -- $(lat_delta_pct "$l0" "$l1")
	echo "RESULT mode=$mode round=$round test=$t$hist" \
		"iops=$(fio_get $f write.iops)" \
		"p50_us=$(ns_us "$(fio_get $f write.clat_ns.percentile.50.000000)")" \
		"p99_us=$(ns_us "$(fio_get $f write.clat_ns.percentile.99.000000)")" \
		"sync_p50_us=$(ns_us "$(fio_get $f sync.lat_ns.percentile.50.000000)")" \
		"sync_p99_us=$(ns_us "$(fio_get $f sync.lat_ns.percentile.99.000000)")" \
		"writes=$(fio_get $f write.total_ios) runtime_ms=$(fio_get $f write.runtime)" \
		"wall_s=$(awk -v a=$c0 -v b=$c1 'BEGIN { printf "%.2f", (b - a) / 100 }')" \
		"journal_writes=$jw journal_traced=$tw jlat_p50_us_le=$1 jlat_p99_us_le=$2" \
		"vda_write_ios=$((vw1 - vw0)) vda_sectors=$((vs1 - vs0)) vda_flushes=$((vf1 - vf0))" \
		"vdb_flushes=$((bf1 - bf0))$extra"
}

if [ $suite = hdd ]; then
	# 128 MiB split into one region per job; fio's total over the jobs (group_reporting).
	for kind in fsync sync; do
		for numjobs in 1 4 16; do
			region=$((128 / numjobs))
			latency_run "$kind-j$numjobs" --$kind=1 --numjobs=$numjobs --group_reporting \
				--size=${region}M --offset_increment=${region}M \
				--time_based --runtime=${seconds}s --randseed=$((round * 100 + numjobs))
		done
	done
	[ -r $lat ] && { echo "INFO journal_latency (whole boot):"; sed 's/^/INFO   /' $lat; }
	finish
fi

latency_run fsync --size=256M --io_size=${mib_fsync}M --randseed=$((round * 10 + 1)) --fsync=1
latency_run sync --size=256M --io_size=${mib_sync}M --randseed=$((round * 10 + 1)) --sync=1

# Metadata-heavy run: 4 KiB random writes anywhere in the 1 GiB backing range, an fsync every
# $meta_every writes. Sectors written to vda per GiB written by fio (data alone is 2097152),
# and journal writes per second of the run.
meta_run() {
	local t=meta
	local j0 j1 va va1 vb vb1 c0 c1
	j0=$(jsets); trace_clear; va=$(dstat vda); vb=$(dstat vdb); c0=$(uptime_cs)
	run_fio $t --size=1G --io_size=${mib_meta}M --fsync=$meta_every --randseed=$((round * 10 + 3)) || return
	c1=$(uptime_cs); j1=$(jsets); va1=$(dstat vda); vb1=$(dstat vdb)
	echo "INFO vda_stat_before" $va; echo "INFO vda_stat_after " $va1
	echo "INFO vdb_stat_before" $vb; echo "INFO vdb_stat_after " $vb1
	local f=/tmp/$t.flat tw
	tw=$(traced)
	set -- $va; local vw0=$5 vs0=$7 vf0=${16:-0}
	set -- $va1; local vw1=$5 vs1=$7 vf1=${16:-0}
	set -- $vb; local bf0=${16:-0} bs0=$7
	set -- $vb1; local bf1=${16:-0} bs1=$7
	local bytes rt jw
	bytes=$(fio_get $f write.io_bytes); rt=$(fio_get $f write.runtime)
	# journal writes: our module's count, else (stock) the tracepoint's
	if [ "$j0" != -1 ]; then jw=$((j1 - j0)); src=jsets; else jw=$tw; src=trace; fi
	echo "RESULT mode=$mode round=$round test=meta" \
		"iops=$(fio_get $f write.iops) user_bytes=$bytes runtime_ms=$rt" \
		"p50_us=$(ns_us "$(fio_get $f write.clat_ns.percentile.50.000000)")" \
		"p99_us=$(ns_us "$(fio_get $f write.clat_ns.percentile.99.000000)")" \
		"vda_write_ios=$((vw1 - vw0)) vda_sectors=$((vs1 - vs0)) vda_flushes=$((vf1 - vf0))" \
		"vdb_sectors=$((bs1 - bs0)) vdb_flushes=$((bf1 - bf0))" \
		"vda_sectors_per_gib=$(awk -v s=$((vs1 - vs0)) -v b="$bytes" 'BEGIN { printf "%.0f", s * 1073741824 / b }')" \
		"vda_ios_per_mib=$(awk -v s=$((vw1 - vw0)) -v b="$bytes" 'BEGIN { printf "%.1f", s * 1048576 / b }')" \
		"journal_writes=$jw journal_src=$src journal_traced=$tw" \
		"journal_per_s=$(awk -v j="$jw" -v r="$rt" 'BEGIN { printf "%.1f", j * 1000 / r }')" \
		"flushes_per_s=$(awk -v j=$((vf1 - vf0)) -v r="$rt" 'BEGIN { printf "%.1f", j * 1000 / r }')" \
		"wall_s=$(awk -v a=$c0 -v b=$c1 'BEGIN { printf "%.2f", (b - a) / 100 }')"
}
meta_run

[ -r $lat ] && { echo "INFO journal_latency (whole boot):"; sed 's/^/INFO   /' $lat; }
finish
