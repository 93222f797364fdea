/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Path of a file below a root directory (NULL or "": the live system):
 * root_path(t->root, "/sys/bus/pci"). NULL when out of memory. */
char *root_path(const char *root, const char *path);
