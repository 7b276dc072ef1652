#!/usr/bin/env bash
# In-VM comparison of bcache's journal on the NVDIMM vs on the cache disk (issue 6, part 1),
# and, with --hdd, of the deployment with a slow-flushing backing disk (issue 13).
# Boots the QEMU guest (scripts/vm.sh, fresh images every boot) once per mode per round and
# runs scripts/guest/bench-fio.sh in it:
#   nvm       our bcache.ko, journal on the NVDIMM
#   ours-ssd  our bcache.ko, journal on the cache disk
#   stock     the kernel's own bcache.ko, journal on the cache disk
#   raw       (--hdd only) no bcache: the same fio jobs straight on the cache disk
# The order rotates each round (nvm ours-ssd stock, then ours-ssd stock nvm, ...), so slow
# drift of the host hits every mode alike. Collects the guest's RESULT lines into
# bench/results/vm.csv and writes bench/results/vm.md (+ PNGs) with bench/vm/report.py.
#
#   bench/vm/run.sh [--rounds N] [--disk-cache MODE] [--quick] [--results DIR]
#   bench/vm/run.sh --hdd [--rounds N] [--seconds S] [--flush-ms MS] [--quick] [--results DIR]
#                         [--before CSV]
#
# --rounds N        rounds (default 3; ~1 min per boot, 3 boots per round; --hdd: ~45 s per
#                   boot, 8 boots per round)
# --disk-cache MODE QEMU cache mode of the virtio disks (default none: O_DIRECT on the host
#                   file, the guest sees a volatile write cache, so its PREFLUSH/FUA become
#                   host fdatasync()s; see bench/vm/README.md for why not directsync)
# --quick           tiny fio sizes (a smoke test of the pipeline, numbers meaningless);
#                   with --hdd: 1 s per fio run, and --rounds defaults to 1
# --results DIR     where vm.csv/vm.md/PNGs (--hdd: vm-hdd.csv/vm-hdd.md) go (default
#                   bench/results)
# --hdd             backing disk behind dm-delay (flushes wait --flush-ms, default 8), cache
#                   disk with its volatile write cache on (wb) and off (wt) in separate boots;
#                   fsync=1 and sync=1 at numjobs 1, 4, 16, --seconds each (default 5).
#                   Per round: both cache settings (their order alternates between rounds),
#                   each with the four modes in rotated order
# --before CSV      an earlier vm.csv (--hdd: vm-hdd.csv), e.g. of the module before a change,
#                   to compare with in the report
#
# Needs an initramfs ($BCACHE_NVM_OUT/initramfs.cpio) built after the last change of
# scripts/guest/bench-fio.sh; checked. Raw guest logs: $BCACHE_NVM_OUT/bench-vm-logs/.
source "$(dirname "$0")/../../scripts/lib.sh"

rounds= disk_cache=none quick=0 results=$REPO/bench/results hdd=0 seconds= flush_ms=8 before=
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=$2; shift 2 ;;
	--disk-cache) disk_cache=$2; shift 2 ;;
	--quick) quick=1; shift ;;
	--results) results=$2; shift 2 ;;
	--hdd) hdd=1; shift ;;
	--seconds) seconds=$2; shift 2 ;;
	--flush-ms) flush_ms=$2; shift 2 ;;
	--before) before=$(realpath "$2"); shift 2 ;;
	*) die "usage: bench/vm/run.sh [--hdd] [--rounds N] [--disk-cache MODE] [--quick] [--results DIR] [--seconds S] [--flush-ms MS] [--before CSV]" ;;
	esac
done
[ $hdd = 1 ] || [ -z "$seconds" ] || die "--seconds goes with --hdd"
case "$disk_cache" in none|directsync|writeback|writethrough|unsafe) ;; *) die "bad --disk-cache $disk_cache" ;; esac

# fio sizes (MiB): fsync run, sync run, meta run; fsync every N writes in the meta run.
# Calibrated so each run takes ~10-20 s under TCG on a 2-core host.
if [ $quick = 1 ]; then sizes=(2 2 8 16); else sizes=(24 20 96 16); fi
if [ $hdd = 1 ]; then
	[ -n "$seconds" ] || { [ $quick = 1 ] && seconds=1 || seconds=5; }
	[ -n "$rounds" ] || { [ $quick = 1 ] && rounds=1 || rounds=3; }
fi
rounds=${rounds:-3}

initrd=$OUT/initramfs.cpio
[ -f "$initrd" ] || die "no $initrd: build it with scripts/initramfs.sh"
# The initramfs carries its own copy of the guest scripts: refuse a stale one.
if ! cpio -i --quiet --to-stdout guest/bench-fio.sh < "$initrd" |
	cmp -s - "$REPO/scripts/guest/bench-fio.sh"; then
	die "$initrd lacks the current scripts/guest/bench-fio.sh; rebuild it: BCACHE_NVM_OUT=$OUT scripts/initramfs.sh $initrd"
fi

logs=$OUT/bench-vm-logs/$(date +%Y%m%d-%H%M%S)
mkdir -p "$logs" "$results"
name=vm
[ $hdd = 1 ] && name=vm-hdd
csv=$results/$name.csv
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
echo "disk_cache,wcache,round,slot,mode,test,metric,value" > "$tmp"

# boot ROUND SLOT MODE WCACHE LAST-TEST GUEST-ARGS...: one guest, its RESULT lines into the CSV.
boot() {
	local r=$1 s=$2 mode=$3 wc=$4 last=$5 out rc=0
	shift 5
	log "round $r/$rounds: $mode (disk cache $disk_cache${wc:+, vda write cache $wc})"
	out=$logs/r$r-$mode${wc:+-$wc}.log
	BNVM_DISK_CACHE=$disk_cache "$REPO/scripts/vm.sh" --timeout 400 bench-fio.sh "$@" > "$out" 2>&1 || rc=$?
	if [ $rc != 0 ] || ! grep -q "^RESULT .*test=$last\( \|$\)" "$out"; then
		log "  FAILED (rc $rc), see $out"
		grep -E '^(FAIL|vm:)' "$out" | head -n 5 >&2 || true
		failed=$((failed + 1))
	fi
	grep '^RESULT ' "$out" | sed 's/^RESULT //' | tr -d '\r' |
		awk -v dc="$disk_cache" -v wc="$wc" -v r="$r" -v s="$s" '{
			delete kv
			for (i = 1; i <= NF; i++) { n = index($i, "="); kv[substr($i, 1, n - 1)] = substr($i, n + 1) }
			for (k in kv) if (k != "mode" && k != "round" && k != "test" && k != "wcache")
				print dc "," wc "," r "," s "," kv["mode"] "," kv["test"] "," k "," kv[k]
		}' >> "$tmp"
	sed -n 's/^INFO mode=\([^ ]*\) .*vda_write_cache=\([^ ]*\).*/\2/p' "$out" | head -n 1 |
		sed "s/^/$disk_cache,$wc,$r,$s,$mode,setup,vda_write_cache,/" >> "$tmp"
	grep '^RESULT ' "$out" | sed 's/^/  /' | cut -c1-160 >&2 || true
	boots=$((boots + 1))
}

start=$(date +%s) failed=0 boots=0
if [ $hdd = 0 ]; then
	modes=(nvm ours-ssd stock)
	for ((r = 1; r <= rounds; r++)); do
		for ((s = 0; s < 3; s++)); do
			mode=${modes[$(( (r - 1 + s) % 3 ))]}
			boot "$r" "$s" "$mode" "" meta "$mode" "$r" "${sizes[@]}"
		done
	done
else
	modes=(nvm ours-ssd stock raw)
	for ((r = 1; r <= rounds; r++)); do
		# wb first in odd rounds, wt first in even ones; the modes rotate within each.
		wcs=(wb wt)
		[ $((r % 2)) = 0 ] && wcs=(wt wb)
		for wc in "${wcs[@]}"; do
			for ((s = 0; s < 4; s++)); do
				mode=${modes[$(( (r - 1 + s) % 4 ))]}
				boot "$r" "$s" "$mode" "$wc" sync-j16 hdd "$mode" "$r" "$wc" "$seconds" "$flush_ms"
			done
		done
	done
fi
mv "$tmp" "$csv"
chmod 644 "$csv"
trap - EXIT
log "$boots boots in $(( $(date +%s) - start )) s, $failed failed; logs in $logs"

if [ $hdd = 0 ]; then
	python3 "$REPO/bench/vm/report.py" "$csv" "$results/vm.md" \
		--sizes "${sizes[*]}" --elapsed $(( $(date +%s) - start )) --failed "$failed" \
		${before:+--before "$before"}
else
	python3 "$REPO/bench/vm/report.py" --hdd "$csv" "$results/vm-hdd.md" \
		--sizes "$seconds $flush_ms" --elapsed $(( $(date +%s) - start )) --failed "$failed" \
		${before:+--before "$before"}
fi
[ "$failed" = 0 ]
