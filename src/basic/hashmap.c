/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

typedef struct Entry {
        const char *key; /* NULL: empty */
        void *value;
} Entry;

struct Hashmap {
        Entry *entries;
        size_t n_buckets; /* a power of two, or 0 */
        size_t n_entries;
};

/* FNV-1a: the keys are short local strings (PCI addresses), not attacker-chosen in bulk. */
static size_t string_hash(const char *s) {
        uint64_t h = UINT64_C(14695981039346656037);
        for (; *s; s++) {
                h ^= (unsigned char) *s;
                h *= UINT64_C(1099511628211);
        }
        return (size_t) (h ^ (h >> 32));
}

Hashmap *hashmap_new(void) {
        return calloc(1, sizeof(Hashmap));
}

Hashmap *hashmap_free(Hashmap *h) {
        if (!h)
                return NULL;
        free(h->entries);
        return mfree(h);
}

size_t hashmap_size(const Hashmap *h) {
        return h ? h->n_entries : 0;
}

static Entry *find(const Hashmap *h, const char *key) {
        size_t mask, i;

        if (!h || h->n_buckets == 0)
                return NULL;
        mask = h->n_buckets - 1;
        for (i = string_hash(key) & mask; h->entries[i].key; i = (i + 1) & mask)
                if (streq(h->entries[i].key, key))
                        return &h->entries[i];
        return NULL;
}

static void insert(Entry *entries, size_t n_buckets, const char *key, void *value) {
        size_t mask = n_buckets - 1, i;
        for (i = string_hash(key) & mask; entries[i].key; i = (i + 1) & mask)
                ;
        entries[i] = (Entry) { .key = key, .value = value };
}

static int grow(Hashmap *h) {
        size_t n = h->n_buckets ? h->n_buckets * 2 : 16;
        Entry *e;

        if (n > SIZE_MAX / sizeof(Entry))
                return -ENOMEM;
        e = calloc(n, sizeof(Entry));
        if (!e)
                return -ENOMEM;
        for (size_t i = 0; i < h->n_buckets; i++)
                if (h->entries[i].key)
                        insert(e, n, h->entries[i].key, h->entries[i].value);
        free(h->entries);
        h->entries = e;
        h->n_buckets = n;
        return 0;
}

int hashmap_put(Hashmap *h, const char *key, void *value) {
        int r;

        assert(h);
        assert(key);

        if (find(h, key))
                return -EEXIST;
        /* at most 3/4 full, so that probes stay short and always end at an empty bucket */
        if ((h->n_entries + 1) * 4 > h->n_buckets * 3) {
                r = grow(h);
                if (r < 0)
                        return r;
        }
        insert(h->entries, h->n_buckets, key, value);
        h->n_entries++;
        return 0;
}

void *hashmap_get(const Hashmap *h, const char *key) {
        Entry *e = key ? find(h, key) : NULL;
        return e ? e->value : NULL;
}

void *hashmap_remove(Hashmap *h, const char *key) {
        Entry *e = key ? find(h, key) : NULL;
        size_t mask, hole, i;
        void *value;

        if (!e)
                return NULL;
        value = e->value;
        mask = h->n_buckets - 1;
        hole = (size_t) (e - h->entries);
        /* Backward-shift deletion: move later members of the probe run into the hole when their home
         * bucket does not lie (cyclically) between the hole and their position. */
        for (i = (hole + 1) & mask; h->entries[i].key; i = (i + 1) & mask) {
                size_t home = string_hash(h->entries[i].key) & mask;
                bool stays = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
                if (stays)
                        continue;
                h->entries[hole] = h->entries[i];
                hole = i;
        }
        h->entries[hole] = (Entry) {};
        h->n_entries--;
        return value;
}

bool hashmap_iterate(const Hashmap *h, size_t *i, void **ret_value) {
        assert(i);
        assert(ret_value);

        for (; h && *i < h->n_buckets; (*i)++)
                if (h->entries[*i].key) {
                        *ret_value = h->entries[(*i)++].value;
                        return true;
                }
        return false;
}
