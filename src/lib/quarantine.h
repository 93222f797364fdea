/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "iommufd.h"
#include "macro.h"
#include "scratch.h"
#include "topology.h"

/* The quarantine engine: takes PCI functions (always whole IOMMU groups) from their owners into an
 * iommufd quarantine, switches them between blocked and scratch-page mode without a gap, and releases
 * them to a guest or back to their host driver. Mechanism only: the daemon decides (policy) and
 * persists; the engine never logs. All side effects go through QuarantineOps, so the state machine is
 * unit-tested without hardware and runs on the real kernel in the VM tier.
 *
 *   host ──quarantine──▶ quarantined ──release(guest)──▶ released ──quarantine──▶ quarantined
 *     ▲                      │  ▲ set_mode (detach / replace-attach)                   │
 *     └─────release(host)────┘  └──────────────────────────────────────────────────────┘
 *
 * blocked is the kernel's own blocking domain: the device is bound to the iommufd and attached to
 * nothing (binding claims DMA ownership, which puts the group on the blocking domain; a detach puts it
 * back there). Every DMA faults and ATS is off: an attach to any paging domain, even an empty IOAS,
 * enables ATS, and an ATS device could then send pre-translated requests that the IOMMU never checks.
 * scratch-page needs a paging domain, so a device with an ATS capability gets it only when the caller
 * accepts ATS for it.
 *
 * Fail closed: a step that fails leaves what is already held in quarantine, and every device the
 * operation touched that did not get there with bus mastering off (err->failed lists them; a clear
 * the kernel refused is said in the message). A release to the host that fails half-way takes the
 * devices back. A protection that could not be set up (identity default domain left, bus-master
 * clear refused, scratch cover cut short) is recorded on the held device (HeldDevice.degraded). */

/* How a held device is kept: blocked (the kernel's blocking domain, every DMA faults) or scratch-page
 * (a paging domain with one zeroed page mapped read-only over the cover: reads return zeros, writes
 * fault; scratch.h). The policy chooses one per device. */
typedef enum QuarantineMode {
        QUARANTINE_MODE_BLOCKED,
        QUARANTINE_MODE_SCRATCH_PAGE,
        _QUARANTINE_MODE_MAX,
        _QUARANTINE_MODE_INVALID = -EINVAL,
} QuarantineMode;

const char *quarantine_mode_to_string(QuarantineMode m);
QuarantineMode quarantine_mode_from_string(const char *s);

/* The kernel interface the engine holds devices with. iommufd (Linux ≥ 6.6 with CONFIG_IOMMUFD and
 * CONFIG_VFIO_DEVICE_CDEV): each device's VFIO cdev bound to an iommufd. legacy: VFIO's group and
 * container (/dev/vfio/N, /dev/vfio/vfio), which every distribution kernel has, for the kernels that
 * lack iommufd (Debian's, RHEL's). What each can guarantee is in docs/isolate.md. */
typedef enum EngineKind {
        ENGINE_KIND_IOMMUFD,
        ENGINE_KIND_LEGACY,
        _ENGINE_KIND_MAX,
        _ENGINE_KIND_INVALID = -EINVAL,
} EngineKind;

const char *engine_kind_to_string(EngineKind k);
EngineKind engine_kind_from_string(const char *s);

/* The interface this kernel offers: iommufd where /dev/iommu and the VFIO device cdev class exist, the
 * legacy one where only /dev/vfio/vfio does, iommufd otherwise (whose errors then say what is missing).
 * dev is the /dev directory to look in (NULL: /dev), root the one of sysfs. *ret_reason: one sentence. */
int engine_kind_detect(const char *dev, const char *root, EngineKind *ret, char **ret_reason);

/* The scratch-page cover the engine maps when the caller asks for none, and the most it maps at all. */
#define QUARANTINE_DEFAULT_SCRATCH_COVER (UINT64_C(4) << 30)
#define QUARANTINE_MAX_SCRATCH_COVER (UINT64_C(1) << 40)

typedef enum DeviceState {
        DEVICE_STATE_HOST,
        DEVICE_STATE_QUARANTINED,
        DEVICE_STATE_RELEASED,
        DEVICE_STATE_UNMANAGED,
        DEVICE_STATE_FAILED, /* meant to be held and could not be (the daemon's; bus mastering off) */
        _DEVICE_STATE_MAX,
        _DEVICE_STATE_INVALID = -EINVAL,
} DeviceState;

const char *device_state_to_string(DeviceState s);
DeviceState device_state_from_string(const char *s);

typedef enum EngineErrorKind {
        ENGINE_ERROR_SYSTEM,            /* an unexpected errno; message says which step */
        ENGINE_ERROR_NO_DEVICE,         /* no such PCI function */
        ENGINE_ERROR_NOT_ISOLATABLE,    /* a bridge, an IOMMU, or no IOMMU at all */
        ENGINE_ERROR_GROUP_NOT_VIABLE,  /* another member of the group is in use by a host driver */
        ENGINE_ERROR_UNSAFE_INTERRUPTS, /* iommufd refuses: MSIs are not isolated */
        ENGINE_ERROR_BUSY,              /* someone else (a VMM) has the device open */
        ENGINE_ERROR_NOT_HELD,          /* release of a device that is not quarantined */
        ENGINE_ERROR_UNSUPPORTED,       /* the kernel lacks iommufd or the VFIO device cdev */
        ENGINE_ERROR_NOT_ALLOWED,       /* scratch-page on an ATS device whose rule does not accept ATS */
        _ENGINE_ERROR_KIND_MAX,
} EngineErrorKind;

/* Every engine call resets the EngineError it is given; after a failure it describes that failure. */
typedef struct EngineError {
        EngineErrorKind kind;
        int error;     /* negative errno */
        char *device;  /* the device the failure is about (the blocker for GROUP_NOT_VIABLE) */
        char *message; /* one sentence: which step, why, what to check */
        char **failed; /* devices the operation touched that are not held now (bus mastering off, or the
                        * message says why not): the daemon reports them as "failed" */
        char **notes;  /* problems that did not fail the operation, one sentence each (for the journal) */
} EngineError;

void engine_error_done(EngineError *e);

/* Side effects. The kernel implementation is quarantine_ops_kernel; tests provide their own. */
typedef struct QuarantineOps {
        int (*driver)(void *ud, const char *slot, char **ret_driver);
        int (*set_driver_override)(void *ud, const char *slot, const char *driver);
        int (*unbind)(void *ud, const char *slot, const char *driver);
        int (*bind)(void *ud, const char *slot, const char *driver);
        int (*drivers_probe)(void *ud, const char *slot);
        int (*group_type)(void *ud, int group, char **ret_type);
        int (*set_group_type)(void *ud, int group, const char *type);
        int (*iommu_group)(void *ud, const char *slot, int *ret_group);
        /* Clears bus mastering through sysfs config space (for a device we could not open). Fails with
         * EPERM under kernel lockdown. */
        int (*disable_bus_master)(void *ud, const char *slot);
        /* Whether a driver has the device enabled (sysfs "enable" > 0): vfio-pci enables it while a VFIO
         * file of it is open and bound. */
        int (*enabled)(void *ud, const char *slot, bool *ret);
        /* The IOMMU group's name ("vfio-noiommu" for VFIO's fake no-IOMMU groups); NULL if none. */
        int (*group_name)(void *ud, int group, char **ret_name);

        int (*iommufd_open)(void *ud, int *ret_fd);
        int (*ioas_alloc)(void *ud, int iommufd, uint32_t *ret_ioas);
        int (*ioas_iova_ranges)(void *ud, int iommufd, uint32_t ioas, IovaRange **ret, size_t *ret_n,
                                uint64_t *ret_alignment);
        /* Optional (NULL: always attach to the IOAS itself). */
        int (*hwpt_alloc)(void *ud, int iommufd, uint32_t dev_id, uint32_t ioas, uint32_t *ret_hwpt);
        /* Builds or extends the scratch mapping (scratch_extend on the real kernel). */
        int (*scratch_extend)(void *ud, Scratch *s, int iommufd, uint64_t cover, const IovaRange *allowed, size_t n);
        int (*scratch_alloc)(void *ud, Scratch *s);
        /* Takes the scratch memfd a previous instance stored back (maps it); and lets the page go. */
        int (*scratch_adopt)(void *ud, Scratch *s, int memfd, bool huge);
        void (*scratch_release)(void *ud, Scratch *s);

        int (*cdev_open)(void *ud, const char *slot, int *ret_fd);
        int (*bind_iommufd)(void *ud, int device_fd, int iommufd, uint32_t *ret_dev_id);
        int (*attach)(void *ud, int device_fd, uint32_t pt_id);
        /* Back to the blocking domain (VFIO_DEVICE_DETACH_IOMMUFD_PT). */
        int (*detach)(void *ud, int device_fd);
        int (*get_info)(void *ud, int device_fd, uint32_t *ret_flags);
        int (*reset)(void *ud, int device_fd);
        /* Registers an eventfd for vfio's device request channel (VFIO_DEVICE_SET_IRQS, REQ index):
         * the kernel signals it when someone wants the device unbound from vfio-pci. */
        int (*set_req_eventfd)(void *ud, int device_fd, int efd);
        int (*config_read)(void *ud, int device_fd, uint32_t offset, void *buf, size_t size);
        int (*config_write)(void *ud, int device_fd, uint32_t offset, const void *buf, size_t size);
        void (*close)(void *ud, int fd);
        uint64_t (*now)(void *ud); /* CLOCK_REALTIME, µs */

        /* The legacy backend (ENGINE_KIND_LEGACY; vfio.h): the group node, its container, type1. */
        int (*group_open)(void *ud, int group, int *ret_fd);
        int (*group_viable)(void *ud, int group_fd, bool *ret);
        int (*container_open)(void *ud, int *ret_fd);
        int (*group_set_container)(void *ud, int group_fd, int container_fd);
        int (*container_set_iommu)(void *ud, int container_fd);
        int (*container_iova_ranges)(void *ud, int container_fd, IovaRange **ret, size_t *ret_n,
                                     uint64_t *ret_min_page);
        int (*container_map)(void *ud, int container_fd, const void *va, uint64_t length, uint64_t iova, bool writable);
        int (*container_unmap_all)(void *ud, int container_fd);
        int (*dup)(void *ud, int fd, int *ret_fd);
        /* Whether the ATS Enable bit is set in the ATS capability at offset (sysfs config). Optional. */
        int (*ats_enabled)(void *ud, const char *slot, unsigned offset, bool *ret);
} QuarantineOps;

extern const QuarantineOps quarantine_ops_kernel;

/* Protections that could not be set up for a held device (bits of HeldDevice.degraded). Release to a
 * guest is refused while any is set, unless the device's rule accepts it. */
typedef enum Degradation {
        DEGRADED_GROUP_TYPE = 1 << 0,    /* its identity default domain could not be switched to DMA */
        DEGRADED_BUS_MASTER = 1 << 1,    /* bus mastering could not be cleared (or read back) */
        DEGRADED_SCRATCH_COVER = 1 << 2, /* scratch-page: the cover was cut short of what was asked */
        DEGRADED_ATS = 1 << 4,           /* blocked, and ATS is still enabled (not a real blocking domain) */
        DEGRADED_PAGING_DOMAIN = 1 << 3, /* blocked, but left on an empty paging domain (detach failed, or
                                          * legacy: a group cannot leave its type1 domain without a gap) */
} Degradation;

typedef struct HeldDevice {
        char slot[PCI_ADDRESS_MAX];
        int group;
        DeviceState state; /* QUARANTINED or RELEASED */
        QuarantineMode mode;
        int fd; /* while quarantined: the bound VFIO cdev (iommufd), the group node (legacy: one file per member,
                 * so that each is stored and closed on its own); -EBADF otherwise */
        int container_fd; /* legacy, while quarantined: the group's container; -EBADF otherwise */
        bool type1;       /* legacy: the container has its type1 paging domain (scratch-page, or after it) */
        uint32_t dev_id;
        uint32_t pt_id;          /* the page table it is attached to; 0: none (blocked: the kernel's blocking domain) */
        char *host_driver;       /* restored on release to the host; NULL: it had none */
        bool group_type_changed; /* we turned an identity default domain into DMA */
        bool reset_works;
        uint64_t since;                         /* when it entered the state, CLOCK_REALTIME µs */
        uint64_t cover;                         /* scratch-page: the cover it has (what is mapped) */
        uint64_t cover_wanted;                  /* scratch-page: the cover it asked for */
        unsigned degraded;                      /* Degradation bits */
        int group_type_error, bus_master_error; /* why (negative errno), for DEGRADED_GROUP_TYPE/_BUS_MASTER */
        int detach_error;                       /* why (negative errno), for DEGRADED_PAGING_DOMAIN */
} HeldDevice;

/* "group-type", "bus-master", "scratch-cover" for each bit set (NULL when none). */
int degradation_to_strv(unsigned degraded, char ***ret);
/* One sentence per bit set, for status and the journal (malloc'd). */
char *degradation_explain(const HeldDevice *h);

/* Where the time of the last engine_quarantine() went (µs, CLOCK_MONOTONIC), for logs and benchmarks. */
typedef struct EngineTimings {
        uint64_t plan, host_unbind, group_type, vfio_bind, take, total;
} EngineTimings;

typedef struct Engine {
        char *root;
        EngineKind kind;
        const QuarantineOps *ops;
        void *ops_data;
        int iommufd; /* -EBADF until the first quarantine */
        Scratch scratch;
        /* A persistent page table on the scratch IOAS (0: none yet, or the kernel has no HWPT_ALLOC): a
         * mode switch then only repoints the device, instead of tearing down and rebuilding the domain
         * (which for a large scratch cover is many map operations). */
        uint32_t scratch_hwpt;
        HeldDevice *devices;
        size_t n_devices, n_devices_allocated;
        EngineTimings last;
} Engine;

int engine_new(const char *root, const QuarantineOps *ops, void *ops_data, Engine **ret);
/* Signals efd when the kernel relays a request to unbind vfio-pci from the held device slot.
 * -ENODEV: not held with an open fd. */
int engine_set_request_eventfd(Engine *e, const char *slot, int efd);
/* Frees the engine. Closing the fds ends the quarantine of the devices it holds: the daemon hands
 * them to systemd's fd store first. */
Engine *engine_free(Engine *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(Engine *, engine_free);

HeldDevice *engine_find(const Engine *e, const char *slot);

typedef struct QuarantineRequest {
        char **slots; /* the devices asked for (their whole groups are taken) */
        QuarantineMode mode;
        uint64_t cover; /* scratch-page cover; 0: QUARANTINE_DEFAULT_SCRATCH_COVER */
        /* Host drivers the caller remembers for devices that were already unbound (udev "unbind" carries
         * no driver): slot → driver pairs, NULL-terminated, may be NULL. */
        char **driver_hints;
        bool reset; /* VFIO_DEVICE_RESET after entering quarantine (when the device supports it) */
        /* Devices whose ATS the caller accepts in scratch-page mode (NULL-terminated, may be NULL). */
        char **ats_accept;
        /* The largest scratch cover allowed (0: QUARANTINE_MAX_SCRATCH_COVER). */
        uint64_t max_cover;
        /* Called with each device's VFIO fd as soon as it is bound (before the attach), so that the caller
         * can put it somewhere safe (systemd's fd store) at once. May be NULL. */
        void (*on_bound)(void *userdata, const char *slot, int fd);
        void *userdata;
} QuarantineRequest;

/* Takes the devices' groups into quarantine. Devices already quarantined are switched to the mode
 * (replace-attach). On success *ret_taken lists every slot now held by this call (group members
 * included). */
int engine_quarantine(Engine *e, const Topology *t, const QuarantineRequest *req, char ***ret_taken, EngineError *err);

/* Switches held devices (req->slots and their group mates) to another mode with no moment outside
 * quarantine. */
int engine_set_mode(Engine *e, const Topology *t, const QuarantineRequest *req, EngineError *err);

/* Release to a guest: closes the fds of the devices' groups; they stay on vfio-pci for a VMM to open. */
int engine_release_guest(Engine *e, const Topology *t, char **slots, char ***ret_released, EngineError *err);
/* Release to the host: clears driver_override, closes the fds, unbinds vfio-pci, restores the group's
 * default domain type, binds the remembered driver and checks that it bound. When a step after the
 * close fails, the devices are taken back into quarantine (in the mode they had) and the error says
 * why; what could not even be taken back is in err->failed with bus mastering off. */
int engine_release_host(Engine *e, const Topology *t, char **slots, char ***ret_released, EngineError *err);

/* Forgets a released device (it went away, or its new owner is someone else's business). */
void engine_forget(Engine *e, const char *slot);

/* Persistence for a restarted daemon: JSON of the engine's ids and devices (fds are stored by name
 * elsewhere), and adoption of that state with the fds the fd store gave back. fd_lookup returns the
 * fd stored under a name or -EBADF. */
int engine_to_json(const Engine *e, json_object **ret);
int engine_adopt(Engine *e, json_object *state, int (*fd_lookup)(void *ud, const char *name), void *ud,
                 char ***ret_lost);

/* Adopts a stored VFIO fd that no state describes (state.json stale, corrupt or missing): the device is
 * held in blocked mode (detached, should it have been attached). -EBADF: not a character device. */
int engine_adopt_orphan(Engine *e, const char *slot, int group, int fd);
/* The slot a fd store name stands for ("vfio-0000-03-00.0" → "0000:03:00.0"); -EINVAL if none. */
int engine_slot_from_fdname(const char *name, char ret[static PCI_ADDRESS_MAX]);

/* Sets the kernel interface; only while nothing is held (-EBUSY otherwise). */
int engine_set_kind(Engine *e, EngineKind kind);

/* The fd store names of the engine's fds (FDNAME may not contain ':'). */
#define ENGINE_FDNAME_IOMMUFD "iommufd"
#define ENGINE_FDNAME_SCRATCH "scratch"
/* "vfio-0000-03-00.0" */
void engine_fdname_for_slot(const char *slot, char buf[static 32]);
/* legacy: the container of a held device's group, "vfioc-0000-03-00.0" */
void engine_fdname_container_for_slot(const char *slot, char buf[static 32]);
