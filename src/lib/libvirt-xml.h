/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "pci-address.h"

/* The host PCI devices of a libvirt domain XML (what the qemu hook gets on stdin).
 *
 * Sources, under /domain/devices (several <devices> elements are read in order):
 *   <hostdev mode='subsystem' type='pci'> <source><address domain= bus= slot= function=/></source>
 *     (a missing mode means 'subsystem', as in libvirt)
 *   <interface type='hostdev'> <source><address type='pci' domain= bus= slot= function=/></source>
 *
 * Ignored: hostdevs of type usb, scsi, scsi_host and mdev; mode='capabilities'; interfaces of any
 * other type and <interface type='hostdev'> with a USB source; every <address> that is not the
 * first <address> of the first <source> (the <address> directly under <hostdev>/<interface> is
 * where the device appears in the guest, not on the host).
 *
 * Numbers are read like libvirt's virXMLPropUInt(..., 0, ...) (virStrToLong_uip): strtoul base 0,
 * so "0x.." is hex, a leading "0" octal, anything else decimal; leading blanks and '+' are allowed,
 * a '-', trailing characters or a value beyond UINT_MAX are not. Limits are libvirt's
 * (virPCIDeviceAddressIsValid and the pciDomain/pciBus/pciSlot/pciFunc schema types): domain is a
 * 32-bit value (libvirt has no 16-bit limit any more; hosts with VMD have domains 0x10000+),
 * bus <= 0xff, slot <= 0x1f, function <= 7. A missing domain means 0. Stricter than libvirt, which
 * reads missing attributes as 0: a missing bus, slot or function and a missing <source><address>
 * are errors, since guessing would name 0000:00:00.0, a real device. libvirt always writes all four
 * attributes when it formats the XML it hands to hooks. */
typedef struct LibvirtHostdevs {
        PciAddress *addresses; /* document order; a device named twice is kept at its first position */
        size_t n;
        char *domain_name; /* text of /domain/name, NULL if there is none */
} LibvirtHostdevs;

/* Parses xml (size bytes, need not be NUL-terminated). Returns 0 and fills *ret, or a negative errno
 * and, if reterr_message is not NULL, a malloc'd message in *reterr_message (NULL if even that could
 * not be allocated); *ret is not touched on failure.
 *   -EBADMSG  not well-formed XML (message has libxml2's line number and text), a DOCTYPE (libvirt
 *             never writes one; refusing it rules out entity expansion), or a root element other
 *             than <domain> ("not a libvirt domain XML (root element is <foo>)")
 *   -EINVAL   a hostdev or interface that libvirt would refuse or that names no host address; the
 *             message names it by position among its siblings of the same element name, counting
 *             from 1 across all <devices>: "hostdev #2: invalid bus '0x1ff' in <source><address>
 *             (must be <= 0xff)"
 *   -EFBIG    size > INT_MAX
 *   -ENOMEM
 * Prints nothing: libxml2's errors are captured, never written to stderr. No network access, no DTD
 * loading, no entity substitution. */
int libvirt_hostdevs_parse(const char *xml, size_t size, LibvirtHostdevs *ret, char **reterr_message);

/* Frees the contents and resets *h to empty; h may be NULL. Usable as _cleanup_(libvirt_hostdevs_done). */
void libvirt_hostdevs_done(LibvirtHostdevs *h);
