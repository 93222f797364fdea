/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer target for the policy parser (json-c + the JSON locator + validation) and evaluation. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Policy *p = policy_new_default();
        PolicyErrors errors = {};
        char *text;

        if (!p || size > 1024 * 1024)
                goto done;
        /* not NUL-terminated on purpose: the parser must only use size */
        text = malloc(size ?: 1);
        if (!text)
                goto done;
        memcpy(text, data, size);
        if (policy_parse_text(p, "fuzz.json", text, size, &errors) >= 0) {
                PciDevice d = {
                        .address = { 0, 3, 0, 0 },
                        .slot = "0000:03:00.0",
                        .vendor = 0x8086,
                        .device = 0x10d3,
                        .class = 0x020000,
                        .iommu_group = 5,
                        .has_dsn = true,
                        .dsn = 0x001b21ffff8a1c04,
                };
                char *parents[] = { (char *) "0000:00:1c.0", NULL };
                PolicyDevice pd = { .device = &d, .driver = "e1000e" };
                PolicyVerdict v;
                json_object *o;

                d.parents = parents;
                policy_evaluate(p, &pd, &v);
                free(release_decision_explain(policy_release_to_guest(&v, INTERRUPTS_SAFE), &v, d.slot,
                                              INTERRUPTS_SAFE));
                if (policy_to_json(p, &o) >= 0)
                        json_object_put(o);
        }
        free(text);
done:
        policy_errors_done(&errors);
        policy_free(p);
        return 0;
}
