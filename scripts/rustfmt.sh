#!/usr/bin/env bash
# Formats every Rust file of the repository (the module's too, which cargo does not see),
# or with --check lists the files that are not formatted and fails.
source "$(dirname "$0")/lib.sh"
cd "$REPO"
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.rs' | grep -v '^fuzz/corpus/')
rustfmt --edition 2021 --config-path "$REPO/rustfmt.toml" "$@" "${files[@]}"
