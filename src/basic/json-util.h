/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>

#include "macro.h"

/* _cleanup_(json_object_putp) json_object *o = NULL; drops the reference on scope exit. */
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(json_object *, json_object_put, NULL);
