#!/bin/bash
# topologies: default bridge nointremap passthrough virtio noiommu
# The quarantine engine on the real kernel: what a quarantined edu can and cannot reach, per topology.
set -eu
case "$ISOLATE_VM_TOPOLOGY" in
default)     checks="errors blocked scratch mode-switch release-guest release-host-rng release-host-e1000e" ;;
bridge)      checks="group" ;;
nointremap)  checks="unsafe-interrupts" ;;
virtio)      checks="unsafe-interrupts" ;;
passthrough) checks="passthrough blocked" ;;
noiommu)     checks="no-iommu" ;;
esac
exec isolate-vm-engine-test $checks
