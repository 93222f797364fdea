/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The verbs, one group per verb-*.c file. */
int verb_list(int argc, char **argv, void *userdata);
int verb_audit(int argc, char **argv, void *userdata);
int verb_policy(int argc, char **argv, void *userdata);
void policy_print_help(void);
int verb_capture(int argc, char **argv, void *userdata);
int verb_status(int argc, char **argv, void *userdata);
int verb_quarantine(int argc, char **argv, void *userdata);
int verb_release(int argc, char **argv, void *userdata);
int verb_reload(int argc, char **argv, void *userdata);
int verb_monitor(int argc, char **argv, void *userdata);
int verb_libvirt_hook(int argc, char **argv, void *userdata);
