#!/bin/bash
# topologies: default
# Hostile local users. Flood: an unprivileged user sends Quarantine calls with 120000 addresses each
# (isolate-test-flood, an sd-bus client: busctl cannot pass that many arguments) while root's status
# must still be answered and an unbind still captured, each within 10 s (before the fix one flood call
# kept isolated busy for about a minute: status timed out). The times are printed; under software
# emulation on a loaded host they vary several-fold, so the bounds only tell served from starved. Forgery: the kernel's segfault
# report names the crashing executable, and any user chooses that name, so a user can print a line that
# reads like a VT-d fault for any device; isolated must not count it.
. /usr/lib/isolate-vm/lib.bash
EDU_A=0000:00:02.0   # held; its fault count must only move for real faults
EDU_B=0000:00:03.0   # on pci-stub, unbound during the flood: captured
USER_NAME=isoflood

write_policy <<'JSON'
{ "version": 1, "defaults": { "mode": "blocked", "quarantine_on_unbind": "all" } }
JSON
id $USER_NAME >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin $USER_NAME
require "unprivileged user $USER_NAME exists" id $USER_NAME
as_user() { setpriv --reuid=$USER_NAME --regid=$USER_NAME --clear-groups --reset-env "$@"; }
for e in $EDU_A $EDU_B; do
    [ "$(driver_of $e)" = pci-stub ] || { [ -n "$(driver_of $e)" ] && echo $e > /sys/bus/pci/devices/$e/driver/unbind; bind_stub $e; } || true
done
require "isolated started" start_daemon
require "quarantine $EDU_A" isolatectl quarantine $EDU_A

echo "== forgery: a segfault report whose file name reads like a DMAR fault for 00:02.0"
FORGED_OLD='x [DMA Write] Request device [00:02.0] fault addr 0x1000 [fault reason 0x06] PTE Write access is not set'
FORGED_NEW='DMAR: [DMA Write NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason 0x06] PTE Write access is not set'
# a real fault first: the count must be able to move
before=$(faults_of $EDU_A total)
edu $EDU_A write 0x3000 64
check "a real DMA fault from $EDU_A is counted (positive control)" wait_for 10 bash -c "[ \$(isolatectl --json=short status $EDU_A | jq '.[0].dma_faults.total') -gt $before ]"
sleep 6   # the kernel's DMAR rate limit and isolated's reading of it settle
before=$(faults_of $EDU_A total)
echo "  $EDU_A fault count before the forgeries: $before"
for name in "$FORGED_OLD" "$FORGED_NEW"; do
    mark=$(dmesg_mark)
    cp /usr/lib/isolate-vm/bin/isolate-vm-segv "/tmp/$name"
    chmod 0755 "/tmp/$name"
    ( cd /tmp && as_user "./$name" ) 2>/dev/null || true
    sleep 1
    dmesg | tail -n +"$(( mark + 1 ))" | grep -F 'segfault' | sed 's/^/  kmsg: /' || true
    check "dmesg shows the forged text (as $USER_NAME, exit by SIGSEGV)" bash -c 'dmesg | tail -n +$(( '"$mark"' + 1 )) | grep -F "segfault" | grep -qF "$1"' _ "$name"
    rm -f "/tmp/$name"
done
sleep 2
after=$(faults_of $EDU_A total)
echo "  $EDU_A fault count after the forgeries: $after"
check "isolated did not count the forged lines ($before -> $after)" [ "$after" = "$before" ]

echo "== flood: $USER_NAME calls Quarantine with 120000 addresses (and with 4096, the most one call may carry), over and over"
FLOOD=/usr/lib/isolate-vm/bin/isolate-test-flood
require "isolate-test-flood is installed ($FLOOD)" test -x $FLOOD
as_user $FLOOD --count 120000 > /tmp/flood-one.txt 2>&1 || true
sed 's/^/  one call: /' /tmp/flood-one.txt
( end=$(( $(date +%s) + 25 )); while [ "$(date +%s)" -lt $end ]; do as_user $FLOOD --count 120000 --calls 4 || true; as_user $FLOOD --count 4096 --calls 8 --timeout 20 || true; done ) > /tmp/flood.txt 2>&1 &
flood=$!
sleep 2
worst=0 answered=0
for i in 1 2 3 4 5; do
    t0=$(date +%s%N)
    timeout 10 isolatectl status > /dev/null && answered=$((answered + 1))
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "  status #$i during the flood: $ms ms"
    [ $ms -gt $worst ] && worst=$ms
    sleep 0.5
done
check "root's status answered 5 of 5 times within 10 s during the flood ($answered answered, worst $worst ms)" [ "$answered" = 5 ]
t0=$(date +%s%N)
echo $EDU_B > /sys/bus/pci/drivers/pci-stub/unbind
if wait_for 10 is_state $EDU_B quarantined; then
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
else
    ms=99999
fi
echo "  unbind -> quarantined during the flood: $ms ms"
check "the unbind was captured within 10 s during the flood ($ms ms)" [ "$ms" -lt 10000 ]
wait $flood || true
echo "  flood answers: $(grep -c '^call' /tmp/flood.txt || true) calls; $(grep '^call' /tmp/flood.txt | sed 's/^call [0-9]*: [0-9.]* s: //' | cut -c1-100 | sort | uniq -c | sort -rn | head -n 3 | tr '\n' ';')"
check "no flood call got a positive answer (nothing taken for $USER_NAME)" bash -c "! grep -q 'taken' /tmp/flood.txt"
check "isolated still answering" bash -c "busctl status org.isolate1 >/dev/null"
finish
