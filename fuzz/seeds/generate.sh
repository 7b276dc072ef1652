#!/usr/bin/env bash
# Writes the committed seeds of the fuzz targets (see each target's doc for the layouts):
# small hex strings, so each seed says what it is. Run from anywhere; overwrites the seeds.
set -euo pipefail
cd "$(dirname "$0")"

# seed DIR NAME HEX...: one seed file from hex bytes (spaces ignored).
seed() {
	local dir=$1 name=$2
	shift 2
	mkdir -p "$dir"
	printf '%s' "$*" | tr -d ' ' | xxd -r -p > "$dir/$name"
}
# rep N HEX: HEX repeated N times.
rep() { local i; for ((i = 0; i < $1; i++)); do printf '%s ' "$2"; done; }

# check: control byte, sizes, sections, patches, all XORed onto a valid two-namespace set.
seed check base ''
seed check ns1_first 01
seed check ns0_alone 02
seed check ns0_twice 03
seed check small_scratch 10
seed check register 20
# Stale ns0 csum after setting sb.flags (byte 9 + 96 of the input).
seed check stale_csum 04 "$(rep 104 00)" 01
# One patch: the low byte of heads[1].recs_offset[0] (64 KiB window), i.e. a broken link.
seed check patch_link 00 "$(rep 1904 00)" "$(printf '%08x' $((0x2000 + 40 + 120 + 56)) |
	sed 's/\(..\)\(..\)\(..\)\(..\)/\4\3\2\1/')" 08 00 00 00 00 00 00 00

# journal: block, blocks per bucket, buckets, first seq; then 8 bytes per jset.
# Four buckets of four 512-byte blocks, 20 jsets of 10 keys: the ring wraps once.
seed journal clean_ring 00 03 03 00 "$(rep 20 '00 0a 00 00 00 00 00 00')"
# One jset per bucket of eight, last_seq one behind.
seed journal bucket_each 01 00 07 05 "$(rep 12 '01 05 00 01 00 00 00 00')"
# 1 KiB blocks: good jsets, then a flipped byte, a bad magic, a bad version, no seal, a torn
# store, each in its own bucket after two good ones.
seed journal damaged 01 07 05 10 "$(rep 2 '00 14 00 00 00 00 00 00')" \
	'00 14 00 00 01 05 00 7f' "$(rep 2 '01 14 00 00 00 00 00 00')" '00 14 00 00 02 03 00 00' \
	'01 14 00 00 00 00 00 00' '00 14 00 00 04 00 00 00' '01 14 00 00 00 00 00 00' \
	'00 14 00 00 08 00 00 00' '01 14 00 00 00 00 00 00' '00 30 00 00 80 0a 00 00'
# 4 KiB blocks, 16 KiB buckets: jsets too big for the bucket and for JSET_MAX_BYTES.
seed journal big 03 03 01 00 '00 1f 00 00 10 00 00 00' '00 ff 00 00 10 00 00 00' \
	'01 40 00 00 10 00 00 00' '00 08 00 00 00 00 00 00'
# Seqs that step back and repeat, last_seq above seq, a gap and an overwritten jset.
seed journal odd_seqs 00 07 02 20 '00 02 00 00 00 00 00 00' '00 02 fe 00 00 00 00 00' \
	'00 02 05 00 20 03 00 00' '02 02 ff 00 00 00 00 00' '00 02 00 00 40 00 00 00' \
	'00 03 00 02 00 00 00 00'
