/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* A hash map from strings to pointers (open addressing, linear probing, backward-shift deletion). The
 * map does not own its keys or values: a value usually carries its own key (a Device its slot), which
 * must live and stay unchanged while the entry is in the map. Iteration order is unspecified, and the
 * map must not change during an iteration. */

typedef struct Hashmap Hashmap;

Hashmap *hashmap_new(void);
/* Frees the map, not the values. */
Hashmap *hashmap_free(Hashmap *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(Hashmap *, hashmap_free);

/* 0 on success, -EEXIST if the key is there, -ENOMEM. */
int hashmap_put(Hashmap *h, const char *key, void *value);
void *hashmap_get(const Hashmap *h, const char *key);
/* Returns the value that was stored under key (NULL if none). */
void *hashmap_remove(Hashmap *h, const char *key);
size_t hashmap_size(const Hashmap *h);

/* *i starts at 0; returns false at the end. */
bool hashmap_iterate(const Hashmap *h, size_t *i, void **ret_value);

#define HASHMAP_FOREACH(v, h) for (size_t _hi_ = 0; hashmap_iterate((h), &_hi_, (void **) &(v));)
