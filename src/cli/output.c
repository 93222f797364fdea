/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "output.h"
#include "log.h"
#include "strv.h"

JsonFormat arg_json = JSON_FORMAT_OFF;
bool arg_legend = true;

int json_format_from_string(const char *s, JsonFormat *ret) {
        if (!s)
                *ret = json_format_default();
        else if (streq(s, "pretty"))
                *ret = JSON_FORMAT_PRETTY;
        else if (streq(s, "short"))
                *ret = JSON_FORMAT_SHORT;
        else if (streq(s, "off"))
                *ret = JSON_FORMAT_OFF;
        else
                return -EINVAL;
        return 0;
}

JsonFormat json_format_default(void) {
        return isatty(STDOUT_FILENO) ? JSON_FORMAT_PRETTY : JSON_FORMAT_SHORT;
}

int json_format_flags(JsonFormat format) {
        return (format == JSON_FORMAT_PRETTY ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
                                             : JSON_C_TO_STRING_PLAIN) |
               JSON_C_TO_STRING_NOSLASHESCAPE;
}

void output_json(json_object *o) {
        fputs(json_object_to_json_string_ext(o, json_format_flags(arg_json)), stdout);
        fputc('\n', stdout);
        fflush(stdout);
        json_object_put(o);
}

int output_table(Table *t) {
        int r;

        assert(t);

        if (arg_json != JSON_FORMAT_OFF)
                r = table_print_json(t, stdout, json_format_flags(arg_json));
        else {
                table_set_header(t, arg_legend);
                r = table_print(t, stdout);
        }
        fflush(stdout);
        return r < 0 ? log_oom() : 0;
}
