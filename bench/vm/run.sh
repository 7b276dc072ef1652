#!/usr/bin/env bash
# In-VM comparison of bcache's journal on the NVDIMM vs on the cache disk (issue 6, part 1).
# Boots the QEMU guest (scripts/vm.sh, fresh images every boot) once per mode per round and
# runs scripts/guest/bench-fio.sh in it:
#   nvm       our bcache.ko, journal on the NVDIMM
#   ours-ssd  our bcache.ko, journal on the cache disk
#   stock     the kernel's own bcache.ko, journal on the cache disk
# The order rotates each round (nvm ours-ssd stock, then ours-ssd stock nvm, ...), so slow
# drift of the host hits every mode alike. Collects the guest's RESULT lines into
# bench/results/vm.csv and writes bench/results/vm.md (+ PNGs) with bench/vm/report.py.
#
#   bench/vm/run.sh [--rounds N] [--disk-cache MODE] [--quick] [--results DIR]
#
# --rounds N        rounds (default 3; ~1 min per boot, 3 boots per round)
# --disk-cache MODE QEMU cache mode of the virtio disks (default none: O_DIRECT on the host
#                   file, the guest sees a volatile write cache, so its PREFLUSH/FUA become
#                   host fdatasync()s; see bench/vm/README.md for why not directsync)
# --quick           tiny fio sizes (a smoke test of the pipeline, numbers meaningless)
# --results DIR     where vm.csv/vm.md/PNGs go (default bench/results)
#
# Needs an initramfs ($BCACHE_NVM_OUT/initramfs.cpio) built after the last change of
# scripts/guest/bench-fio.sh; checked. Raw guest logs: $BCACHE_NVM_OUT/bench-vm-logs/.
source "$(dirname "$0")/../../scripts/lib.sh"

rounds=3 disk_cache=none quick=0 results=$REPO/bench/results
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=$2; shift 2 ;;
	--disk-cache) disk_cache=$2; shift 2 ;;
	--quick) quick=1; shift ;;
	--results) results=$2; shift 2 ;;
	*) die "usage: bench/vm/run.sh [--rounds N] [--disk-cache MODE] [--quick] [--results DIR]" ;;
	esac
done
case "$disk_cache" in none|directsync|writeback|writethrough|unsafe) ;; *) die "bad --disk-cache $disk_cache" ;; esac

# fio sizes (MiB): fsync run, sync run, meta run; fsync every N writes in the meta run.
# Calibrated so each run takes ~10-20 s under TCG on a 2-core host.
if [ $quick = 1 ]; then sizes=(2 2 8 16); else sizes=(24 20 96 16); fi

initrd=$OUT/initramfs.cpio
[ -f "$initrd" ] || die "no $initrd: build it with scripts/initramfs.sh"
# The initramfs carries its own copy of the guest scripts: refuse a stale one.
if ! cpio -i --quiet --to-stdout guest/bench-fio.sh < "$initrd" |
	cmp -s - "$REPO/scripts/guest/bench-fio.sh"; then
	die "$initrd lacks the current scripts/guest/bench-fio.sh; rebuild it: BCACHE_NVM_OUT=$OUT scripts/initramfs.sh $initrd"
fi

logs=$OUT/bench-vm-logs/$(date +%Y%m%d-%H%M%S)
mkdir -p "$logs" "$results"
csv=$results/vm.csv
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
echo "disk_cache,round,slot,mode,test,metric,value" > "$tmp"

modes=(nvm ours-ssd stock)
start=$(date +%s) failed=0
for ((r = 1; r <= rounds; r++)); do
	for ((s = 0; s < 3; s++)); do
		mode=${modes[$(( (r - 1 + s) % 3 ))]}
		log "round $r/$rounds: $mode (disk cache $disk_cache)"
		out=$logs/r$r-$mode.log
		rc=0
		BNVM_DISK_CACHE=$disk_cache "$REPO/scripts/vm.sh" --timeout 400 bench-fio.sh \
			"$mode" "$r" "${sizes[@]}" > "$out" 2>&1 || rc=$?
		if [ $rc != 0 ] || ! grep -q '^RESULT .*test=meta' "$out"; then
			log "  FAILED (rc $rc), see $out"
			grep -E '^(FAIL|vm:)' "$out" | head -n 5 >&2 || true
			failed=$((failed + 1))
		fi
		grep '^RESULT ' "$out" | sed 's/^RESULT //' | tr -d '\r' |
			awk -v dc="$disk_cache" -v r="$r" -v s="$s" '{
				delete kv
				for (i = 1; i <= NF; i++) { n = index($i, "="); kv[substr($i, 1, n - 1)] = substr($i, n + 1) }
				for (k in kv) if (k != "mode" && k != "round" && k != "test")
					print dc "," r "," s "," kv["mode"] "," kv["test"] "," k "," kv[k]
			}' >> "$tmp"
		sed -n 's/^INFO mode=\([^ ]*\) .*vda_write_cache=\([^ ]*\).*/\2/p' "$out" | head -n 1 |
			sed "s/^/$disk_cache,$r,$s,$mode,setup,vda_write_cache,/" >> "$tmp"
		grep '^RESULT ' "$out" | sed 's/^/  /' | cut -c1-160 >&2 || true
	done
done
mv "$tmp" "$csv"
chmod 644 "$csv"
trap - EXIT
log "$((rounds * 3)) boots in $(( $(date +%s) - start )) s, $failed failed; logs in $logs"

python3 "$REPO/bench/vm/report.py" "$csv" "$results/vm.md" \
	--sizes "${sizes[*]}" --elapsed $(( $(date +%s) - start )) --failed "$failed"
[ "$failed" = 0 ]
