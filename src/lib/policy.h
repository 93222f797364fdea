/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "macro.h"
#include "pci-address.h"
#include "quarantine.h"
#include "topology.h"

/* The allowlist policy (JSON, version 1): ordered rules, first match wins, no match means deny.
 * Semantics follow USBGuard's rules; the format is isolate-policy.json(5)'s. */

typedef enum UnbindPolicy {
        UNBIND_POLICY_ALL,
        UNBIND_POLICY_MATCHED,
        UNBIND_POLICY_NONE,
        _UNBIND_POLICY_MAX,
        _UNBIND_POLICY_INVALID = -EINVAL,
} UnbindPolicy;

const char *unbind_policy_to_string(UnbindPolicy p);
UnbindPolicy unbind_policy_from_string(const char *s);

typedef enum Passthrough {
        PASSTHROUGH_DENY,
        PASSTHROUGH_ALLOW,
        _PASSTHROUGH_MAX,
        _PASSTHROUGH_INVALID = -EINVAL,
} Passthrough;

const char *passthrough_to_string(Passthrough p);
Passthrough passthrough_from_string(const char *s);

typedef enum MatchKey {
        MATCH_SLOT,
        MATCH_VENDOR,
        MATCH_DEVICE,
        MATCH_SUBSYSTEM_VENDOR,
        MATCH_SUBSYSTEM_DEVICE,
        MATCH_CLASS,
        MATCH_DRIVER,
        MATCH_SERIAL,
        MATCH_PARENT,
        _MATCH_KEY_MAX,
        _MATCH_KEY_INVALID = -EINVAL,
} MatchKey;

const char *match_key_to_string(MatchKey k);
MatchKey match_key_from_string(const char *s);

typedef struct MatchValue {
        char *text;            /* as written */
        PciSelector slot;      /* slot, parent */
        uint32_t number;       /* ids; class value */
        unsigned class_digits; /* class: 2, 4 or 6 */
        uint64_t serial;
} MatchValue;

/* A key matches when the device's value equals any one of the listed values. */
typedef struct MatchCondition {
        bool present;
        MatchValue *values;
        size_t n_values;
} MatchCondition;

typedef struct Rule {
        char *id;
        char *file;
        unsigned line, column;
        MatchCondition match[_MATCH_KEY_MAX];
        Passthrough passthrough;
        QuarantineMode mode; /* _QUARANTINE_MODE_INVALID: not set, defaults apply */
        Tristate quarantine_on_unbind;
        bool allow_unsafe_interrupts;
        bool accept_degraded;   /* release to a guest although a protection could not be set up */
        bool ats_accept;        /* "ats": "accept": scratch-page (a paging domain, ATS on) for an ATS device */
        uint64_t scratch_cover; /* 0: not set */
        char *comment;
} Rule;

#define POLICY_DEFAULT_SCRATCH_COVER QUARANTINE_DEFAULT_SCRATCH_COVER
#define POLICY_MIN_SCRATCH_COVER (UINT64_C(2) << 20)
#define POLICY_MAX_SCRATCH_COVER QUARANTINE_MAX_SCRATCH_COVER
#define POLICY_DEFAULT_MAX_SCRATCH_COVER (UINT64_C(64) << 30)

typedef struct Policy {
        QuarantineMode mode;
        char *mode_file; /* where the default came from; NULL: built in */
        UnbindPolicy quarantine_on_unbind;
        char *quarantine_on_unbind_file;
        uint64_t scratch_cover;
        char *scratch_cover_file;
        uint64_t max_scratch_cover; /* defaults.max_scratch_cover: no cover may be larger */
        Rule *rules;
        size_t n_rules, n_rules_allocated;
        char **files; /* the files read, in order */
} Policy;

typedef struct PolicyError {
        char *file;
        unsigned line, column;
        char *message;
} PolicyError;

typedef struct PolicyErrors {
        PolicyError *errors;
        size_t n_errors, n_allocated;
} PolicyErrors;

void policy_errors_done(PolicyErrors *e);

Policy *policy_new_default(void);
Policy *policy_free(Policy *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Policy *, policy_free);

/* Parses one file's text into p (rules appended, defaults overridden). Every problem found is
 * appended to errors; returns -EINVAL if there was any, -ENOMEM on allocation failure.
 * Duplicate rule ids are checked against the rules p already has. */
int policy_parse_text(Policy *p, const char *file, const char *text, size_t size, PolicyErrors *errors);

/* Reads and parses the files in order. An unreadable file is reported in errors (line 0) and
 * makes the result -EINVAL too; the policy is only returned when everything was valid. */
int policy_load_files(char *const *files, Policy **ret, PolicyErrors *errors);

/* The installed policy: DIR/policy.json, then DIR/policy.d/ *.json in lexical order. Missing
 * files are fine (built-in defaults, no rules). */
int policy_installed_files(const char *dir, char ***ret);

typedef struct PolicyVerdict {
        const Rule *rule; /* NULL: no rule matched */
        Passthrough passthrough;
        QuarantineMode mode;
        bool quarantine_on_unbind;
        bool allow_unsafe_interrupts;
        bool accept_degraded;
        bool ats_accept;
        uint64_t scratch_cover;
        uint64_t max_scratch_cover;
} PolicyVerdict;

/* The device's properties that rules match on. driver may differ from d->driver: the daemon passes
 * the host driver a quarantined device had before it was moved to vfio-pci. */
typedef struct PolicyDevice {
        const PciDevice *device;
        const char *driver;
} PolicyDevice;

void policy_evaluate(const Policy *p, const PolicyDevice *d, PolicyVerdict *ret);
bool rule_matches(const Rule *r, const PolicyDevice *d);
/* Whether one key of a rule matches the device; ret_actual gets the device's value as text. */
bool rule_key_matches(const Rule *r, MatchKey k, const PolicyDevice *d, char **ret_actual);

/* JSON for `policy show` / D-Bus: the effective policy with sources. */
int policy_to_json(const Policy *p, json_object **ret);
int rule_to_json(const Rule *r, json_object **ret);

/* Whether release to a guest may go ahead: the policy must allow passthrough, and the device's
 * interrupts must be isolated unless the rule accepts unsafe interrupts (unknown counts as unsafe:
 * fail closed). */
typedef enum ReleaseDecision {
        RELEASE_ALLOWED,
        RELEASE_DENIED_BY_POLICY,
        RELEASE_DENIED_UNSAFE_INTERRUPTS,
        _RELEASE_DECISION_MAX,
} ReleaseDecision;

ReleaseDecision policy_release_to_guest(const PolicyVerdict *v, InterruptSafety interrupts);
/* A sentence explaining the decision, naming the rule (malloc'd). */
char *release_decision_explain(ReleaseDecision d, const PolicyVerdict *v, const char *slot, InterruptSafety interrupts);
