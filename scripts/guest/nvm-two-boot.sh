# Second boot of the allocator's two-boot test: before the module loads, user space must see
# on /dev/pmem0 exactly the ranges the first boot's KUnit run allocated for the owner
# "kunit-two-boot!!" (orders 0, 3, 5, 9); then the KUnit run checks them through register
# and frees them, which user space sees too.
. /guest/lib.sh
owner=6b756e69-742d-7477-6f2d-626f6f742121

# owner_orders: the sorted orders of the owner's records in `bcache-nvm show`.
owner_orders() {
	bcache-nvm show /dev/pmem0 | awk -v u="uuid $owner" '
		/^head / { mine = index($0, u) > 0 }
		mine && /rec at/ { for (i = 1; i < NF; i++) if ($i == "order") print $(i + 1) }' |
		sort -n | tr '\n' ' '
}

check two-boot-clean bcache-nvm check /dev/pmem0
orders_are() { test "$(owner_orders)" = "$1"; }

check two-boot-survived orders_are '0 3 5 9 '
echo "orders after power-off: $(owner_orders)"
sh /guest/kunit.sh
check two-boot-freed orders_are ''
finish
