/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* isolate-vm-segv: reads address 0, so that the kernel logs a segfault report naming this executable
 * ("COMM[PID]: segfault at 0 ip ... in FILE[...]"). A test copies it under a name of its choosing to
 * show that any user can put text of their choice into the kernel log (a forged DMA fault line). */

#include <stdint.h>

int main(int argc, char *argv[]) {
        /* From argc, so that the compiler cannot see a NULL dereference (and trap with ud2 instead). */
        volatile int *p = (volatile int *) (uintptr_t) (argc - 1);
        (void) argv;
        return *p;
}
