#!/usr/bin/env bash
# Bounded fuzzing: every cargo-fuzz target of fuzz/ runs for SECONDS (default 60) from a
# scratch copy of its committed seeds (fuzz/seeds/<target>, never written to), on the stable
# toolchain (RUSTC_BOOTSTRAP=1, no sanitizer: the code is safe Rust) with debug assertions,
# so an arithmetic overflow is a crash as it is in the kernel.
#
# Prints per target "fuzz <target>: <execs> execs, <edges> edges (cov), <n> crashes" from
# libFuzzer's final stats, then "PASS fuzz-<target>" or "FAIL fuzz-<target>: <reason>" (a
# crash names its reproducer). Exits non-zero if a target fails to build or crashes.
# Installs cargo-fuzz first if it is missing (a cold `cargo install` takes about 75 s on
# two cores). Scratch corpora, artifacts and logs go to $OUT/fuzz.
#
#   scripts/fuzz.sh [SECONDS]
#   reproduce: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s none -a <target> <artifact>
source "$(dirname "$0")/lib.sh"

CARGO_FUZZ_VERSION=0.13.2
secs=${1:-60}
[[ $secs =~ ^[0-9]+$ ]] || die "usage: $0 [SECONDS]"
work="$OUT/fuzz"
export RUSTC_BOOTSTRAP=1

if [ "$(cargo fuzz --version 2> /dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
	log "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION"
	start=$SECONDS
	cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --quiet ||
		die "cargo install cargo-fuzz $CARGO_FUZZ_VERSION failed"
	log "fuzz: cargo-fuzz installed in $((SECONDS - start)) s"
fi

cd "$REPO/fuzz"
mapfile -t targets < <(cargo fuzz list)
[ "${#targets[@]}" -gt 0 ] || die "no fuzz targets in $REPO/fuzz"
mkdir -p "$work"

failed=0
for t in "${targets[@]}"; do
	log "fuzz: $t, $secs s"
	corpus="$work/corpus/$t" art="$work/artifacts/$t" logf="$work/$t.log"
	rm -rf "$corpus" "$art"
	mkdir -p "$corpus" "$art"
	if [ -d "seeds/$t" ]; then
		cp -r "seeds/$t/." "$corpus/"
	fi
	if ! cargo fuzz build -s none -a "$t" > "$work/$t.build.log" 2>&1; then
		tail -n 20 "$work/$t.build.log" >&2
		echo "FAIL fuzz-$t: build failed (see $work/$t.build.log)"
		failed=1
		continue
	fi
	rc=0
	# -len_control=0: inputs of any length from the start (the targets' inputs are
	# structured, their later sections are as interesting as the first bytes).
	cargo fuzz run -s none -a "$t" "$corpus" -- -max_total_time="$secs" -len_control=0 \
		-timeout=20 -print_final_stats=1 -artifact_prefix="$art/" > "$logf" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logf" | tail -n 1)
	edges=$(sed -n 's/^#[0-9].* cov: \([0-9]*\) .*/\1/p' "$logf" | tail -n 1)
	mapfile -t crashes < <(find "$art" -type f | sort)
	echo "fuzz $t: ${execs:-?} execs, ${edges:-?} edges (cov), ${#crashes[@]} crashes"
	if [ "${#crashes[@]}" -gt 0 ] || [ "$rc" != 0 ]; then
		why=$(grep -m 1 -E 'panicked at|^==[0-9]+== ERROR' "$logf" || true)
		msg=$(grep -m 1 -A 1 'panicked at' "$logf" | tail -n 1 || true)
		echo "FAIL fuzz-$t: ${why:-exit $rc}${msg:+ ($msg)}; reproducer: ${crashes[0]:-none}, log: $logf"
		failed=1
	elif [ -z "$execs" ] || [ -z "$edges" ]; then
		echo "FAIL fuzz-$t: no final stats from libFuzzer (see $logf)"
		failed=1
	else
		echo "PASS fuzz-$t"
	fi
done
exit "$failed"
