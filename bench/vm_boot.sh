#!/bin/sh
# virtkit-vm vs qemu-system-x86_64 (KVM): dummy.flat start->exit time and
# VMM memory overhead, ratios printed. See bench/lib/vm_boot.py.
exec /usr/bin/python3 "$(dirname "$0")/lib/vm_boot.py" "$@"
