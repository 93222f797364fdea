/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* isolate-vm-hold SLOT: does what a VMM does with a device released to it (opens its VFIO cdev, binds
 * it to an iommufd of its own and attaches it to an IOAS), prints "held", and keeps it until SIGTERM or
 * SIGINT. Exit 0 after a clean stop; 2: it could not take the device (the error on stderr). */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "iommufd.h"
#include "vfio.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
        stop = 1;
}

int main(int argc, char *argv[]) {
        int ifd = -1, dfd = -1, r;
        uint32_t dev_id, ioas;

        if (argc != 2) {
                fprintf(stderr, "usage: %s SLOT\n", argv[0]);
                return 2;
        }
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
        r = iommufd_open(&ifd);
        if (r >= 0)
                r = vfio_cdev_open(NULL, argv[1], &dfd);
        if (r >= 0)
                r = vfio_device_bind_iommufd(dfd, ifd, &dev_id);
        if (r >= 0)
                r = iommufd_ioas_alloc(ifd, &ioas);
        if (r >= 0)
                r = vfio_device_attach_pt(dfd, ioas, NULL);
        if (r < 0) {
                fprintf(stderr, "cannot take %s: %s\n", argv[1], strerror(-r));
                return 2;
        }
        printf("held\n");
        fflush(stdout);
        while (!stop)
                pause();
        close(dfd);
        close(ifd);
        return 0;
}
