#!/bin/bash
# topologies: default amd lockdown
# kernels: project debian
# The libvirt hook against isolated, as libvirt runs it (/etc/libvirt/hooks/qemu.d/isolate with the
# domain XML on stdin): an allowed device is released at prepare/begin and taken back at release/end;
# a domain asking for a denied device cannot start, and nothing of it is released.
. /usr/lib/isolate-vm/lib.bash
HOOK=/etc/libvirt/hooks/qemu.d/isolate
ALLOWED=0000:00:03.0
DENIED=0000:00:02.0

domain() {
    # domain NAME BUS:SLOT... : a domain XML with managed='no' PCI host devices, hex and decimal values
    local name=$1; shift
    echo "<domain type='kvm'><name>$name</name><memory unit='KiB'>1048576</memory><devices>"
    for d in "$@"; do
        local bus=${d%%:*} slot=${d#*:}
        echo "<hostdev mode='subsystem' type='pci' managed='no'><driver name='vfio'/><source><address domain='0x0000' bus='0x$bus' slot='$((16#$slot))' function='0x0'/></source><address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/></hostdev>"
    done
    echo "</devices></domain>"
}

write_policy <<'JSON'
{ "version": 1,
  "rules": [ { "id": "edu-b", "match": { "slot": "0000:00:03.0" }, "passthrough": "allow" } ] }
JSON
require "the hook is installed" test -x $HOOK
require "isolated started" start_daemon
require "both edus quarantined" isolatectl quarantine $ALLOWED $DENIED

domain vm-ok 00:03 > /tmp/ok.xml
domain vm-bad 00:03 00:02 > /tmp/bad.xml
check "--dry-run finds the host device" [ "$(isolatectl libvirt-hook --dry-run vm-ok prepare begin - < /tmp/ok.xml)" = $ALLOWED ]

echo "== an allowed device: released before the domain starts, back in quarantine after it ends"
check "prepare begin succeeds" $HOOK vm-ok prepare begin - < /tmp/ok.xml
check "$ALLOWED is released (for the VMM)" is_state $ALLOWED released
check "start begin / started begin do nothing" bash -c "$HOOK vm-ok start begin - < /tmp/ok.xml && $HOOK vm-ok started begin - < /tmp/ok.xml"
check "still released" is_state $ALLOWED released
check "release end succeeds" $HOOK vm-ok release end shutdown < /tmp/ok.xml
check "$ALLOWED is quarantined again" is_state $ALLOWED quarantined
check "stopped end and release end again are harmless (a failed start runs both)" bash -c "$HOOK vm-ok stopped end - < /tmp/ok.xml && $HOOK vm-ok release end failed < /tmp/ok.xml"
check "still quarantined" is_state $ALLOWED quarantined

echo "== a domain that asks for a denied device cannot start, and nothing is released"
if $HOOK vm-bad prepare begin - < /tmp/bad.xml 2>/tmp/err; then rc=0; else rc=$?; fi
sed 's/^/  stderr: /' /tmp/err
check "prepare begin fails (libvirt then refuses to start the domain)" [ "$rc" != 0 ]
check "the reason is on stderr" grep -q "Refusing to start domain 'vm-bad'" /tmp/err
check "and names the denied device" grep -q "$DENIED may not be passed through" /tmp/err
check "$DENIED still quarantined" is_state $DENIED quarantined
check "$ALLOWED not released either (all or none)" is_state $ALLOWED quarantined

echo "== malformed XML at prepare fails the start (fail closed)"
if echo '<domain><devices><hostdev' | $HOOK vm-x prepare begin - 2>/tmp/err; then rc=0; else rc=$?; fi
check "refused" [ "$rc" != 0 ]
check "saying why" grep -q "malformed XML" /tmp/err
finish
