#!/usr/bin/env bash
# Does all set-up (packages, bindgen, the test kernel: cached after the first run), builds
# bcache.ko and the guest, boots the VM and shows bcache running on our module with the
# NVDIMM present.
source "$(dirname "$0")/lib.sh"
"$REPO/scripts/setup.sh"
"$REPO/scripts/build.sh"
exec "$REPO/scripts/vm.sh" demo.sh
