/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "isolated.h"

int main(int argc, char *argv[]) {
        return isolated_main(argc, argv, NULL); /* the kernel's engine operations */
}
