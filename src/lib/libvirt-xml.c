/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/globals.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlversion.h>

#include "libvirt-xml.h"
#include "macro.h"

/* libxml2 2.12 made the structured error callback take a const xmlError. */
#if LIBXML_VERSION >= 21200
#define XML_ERROR_CONST const
#else
#define XML_ERROR_CONST
#endif

DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(xmlDocPtr, xmlFreeDoc, NULL);
DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(xmlParserCtxtPtr, xmlFreeParserCtxt, NULL);

static void xml_freep(xmlChar **p) {
        assert(p);

        if (*p) {
                xmlFree(*p);
                *p = NULL;
        }
}
#define _cleanup_xml_free_ _cleanup_(xml_freep)

typedef struct ParseState {
        bool saw_doctype;
        bool have_error;
        xmlErrorLevel error_level;
        int error_line;
        int error_column;
        char error_message[256];
} ParseState;

typedef struct AddressList {
        PciAddress *addresses;
        size_t n, allocated;
} AddressList;

static int fail(char **reterr_message, int r, const char *fmt, ...) _printf_(3, 4);
static int fail(char **reterr_message, int r, const char *fmt, ...) {
        va_list ap;

        if (!reterr_message)
                return r;

        va_start(ap, fmt);
        if (vasprintf(reterr_message, fmt, ap) < 0)
                *reterr_message = NULL;
        va_end(ap);
        return r;
}

/* User-supplied text for a message: at most ~40 bytes, control characters replaced, so that a
 * message stays one short line whatever the document holds. */
#define SHOWN_MAX 48
static const char *shown(const void *text, char buf[static SHOWN_MAX]) {
        const unsigned char *s = text ?: (const void *) "";
        size_t n = 0;

        while (s[n] && n < SHOWN_MAX - 4) {
                buf[n] = s[n] < 0x20 || s[n] == 0x7f ? '?' : (char) s[n];
                n++;
        }
        if (s[n]) {
                /* Cut before a whole UTF-8 sequence, not inside one. */
                while (n > 0 && (s[n] & 0xc0) == 0x80)
                        n--;
                memcpy(buf + n, "...", 3);
                n += 3;
        }
        buf[n] = '\0';
        return buf;
}

static void parse_error_handler(void *userdata, XML_ERROR_CONST xmlError *e) {
        ParseState *s = userdata;
        size_t l;

        /* Keep the first fatal error (libxml2 may report follow-up errors after the one that
         * matters), or else the first error. Warnings do not make a document bad. */
        if (!s || !e || e->level < XML_ERR_ERROR)
                return;
        if (s->have_error && (s->error_level == XML_ERR_FATAL || e->level != XML_ERR_FATAL))
                return;

        s->have_error = true;
        s->error_level = e->level;
        s->error_line = e->line;
        s->error_column = e->domain == XML_FROM_PARSER ? e->int2 : 0;
        snprintf(s->error_message, sizeof(s->error_message), "%s", e->message ?: "unknown error");
        /* Some messages span lines ("Input is not proper UTF-8, indicate encoding !\nBytes: ..."). */
        for (char *p = s->error_message; *p; p++)
                if ((unsigned char) *p < 0x20)
                        *p = ' ';
        l = strlen(s->error_message);
        while (l > 0 && s->error_message[l - 1] == ' ')
                s->error_message[--l] = '\0';
}

/* SAX callback for <!DOCTYPE ...>. A libvirt domain XML never has one; stopping here means no entity
 * declaration is ever read, so nothing can be expanded. The parser context's userData is the context
 * itself; _private is ours. */
static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id, const xmlChar *system_id) {
        xmlParserCtxtPtr ctxt = ctx;
        ParseState *s = ctxt->_private;

        s->saw_doctype = true;
        xmlStopParser(ctxt);
}

static xmlDocPtr read_document(xmlParserCtxtPtr ctxt, const char *xml, int size, ParseState *s) {
        /* No network, no DTD loading or validation (not asked for), no entity substitution
         * (XML_PARSE_NOENT is deliberately absent), no XInclude. */
        const int options = XML_PARSE_NONET;
        xmlDocPtr doc;

        ctxt->_private = s;
        ctxt->sax->internalSubset = on_doctype;

#if LIBXML_VERSION >= 21300
        /* With a handler of the context's own nothing reaches stderr. XML_PARSE_NOERROR would hide
         * the errors from that handler too. */
        xmlCtxtSetErrorHandler(ctxt, parse_error_handler, s);
        doc = xmlCtxtReadMemory(ctxt, xml, size, NULL, NULL, options);
#else
        /* XML_PARSE_NOERROR|XML_PARSE_NOWARNING silence the parser context's own channels, but some
         * errors (character set conversion, I/O) bypass the context and go to the thread's
         * structured handler, or failing that to xmlGenericError, i.e. stderr. Install ours for the
         * duration of the parse and put the caller's back afterwards. */
        xmlStructuredErrorFunc saved_serror = xmlStructuredError;
        void *saved_serror_context = xmlStructuredErrorContext;

        xmlSetStructuredErrorFunc(s, parse_error_handler);
        doc = xmlCtxtReadMemory(ctxt, xml, size, NULL, NULL, options | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        xmlSetStructuredErrorFunc(saved_serror_context, saved_serror);
#endif
        /* Should the handler have missed it, the context still has the last error. */
        if (!doc && !s->have_error)
                parse_error_handler(s, xmlCtxtGetLastError(ctxt));
        return doc;
}

static bool node_is(const xmlNode *n, const char *name) {
        assert(n);

        return n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST name);
}

static xmlNode *child_element(const xmlNode *parent, const char *name) {
        assert(parent);

        for (xmlNode *c = parent->children; c; c = c->next)
                if (node_is(c, name))
                        return c;
        return NULL;
}

/* Returns 1 and the value (xmlFree it), 0 and NULL if the attribute is absent, or -ENOMEM. */
static int get_attr(xmlNode *node, const char *name, xmlChar **ret) {
        xmlChar *v = xmlGetNoNsProp(node, BAD_CAST name);

        assert(ret);

        if (!v) {
                *ret = NULL;
                /* xmlGetNoNsProp() returns NULL also when it runs out of memory. */
                return xmlHasNsProp(node, BAD_CAST name, NULL) ? -ENOMEM : 0;
        }
        *ret = v;
        return 1;
}

/* The syntax of libvirt's virStrToLong_uip() with base 0: strtoul's (leading blanks, an optional
 * '+', "0x" hex, leading-"0" octal, else decimal), but no '-' anywhere in the number and nothing
 * after it. The range is checked by the caller (virStrToLong_uip's own limit is UINT_MAX). */
static int parse_number(const char *s, unsigned long long *ret) {
        unsigned long long v;
        char *end;

        assert(ret);

        errno = 0;
        v = strtoull(s, &end, 0);
        if (end == s || *end != '\0' || memchr(s, '-', (size_t) (end - s)))
                return -EINVAL;
        if (errno == ERANGE)
                v = ULLONG_MAX; /* syntactically a number, just too large */
        else if (errno != 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_host_address(xmlNode *address, const char *what, unsigned index, PciAddress *ret,
                              char **reterr_message) {
        assert(ret);

        static const struct {
                const char *name;
                uint32_t max;
                bool required;
        } fields[] = {
                { "domain", UINT32_MAX, false },
                { "bus", 0xff, true },
                { "slot", 0x1f, true },
                { "function", 7, true },
        };
        unsigned long long v[ELEMENTSOF(fields)] = {};
        char buf[SHOWN_MAX];
        int r;

        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                _cleanup_xml_free_ xmlChar *s = NULL;

                r = get_attr(address, fields[i].name, &s);
                if (r < 0)
                        return r;
                if (r == 0) {
                        if (!fields[i].required)
                                continue;
                        return fail(reterr_message, -EINVAL, "%s #%u: missing attribute '%s' in <source><address>",
                                    what, index, fields[i].name);
                }
                if (parse_number((const char *) s, &v[i]) < 0)
                        return fail(reterr_message, -EINVAL,
                                    "%s #%u: invalid %s '%s' in <source><address> (not a non-negative number)", what,
                                    index, fields[i].name, shown(s, buf));
                if (v[i] > fields[i].max)
                        return fail(reterr_message, -EINVAL,
                                    "%s #%u: invalid %s '%s' in <source><address> (must be <= 0x%" PRIx32 ")", what,
                                    index, fields[i].name, shown(s, buf), fields[i].max);
        }

        *ret = (PciAddress) {
                .domain = (uint32_t) v[0],
                .bus = (uint8_t) v[1],
                .slot = (uint8_t) v[2],
                .func = (uint8_t) v[3],
        };
        return 0;
}

static void address_list_done(AddressList *l) {
        assert(l);

        l->addresses = mfree(l->addresses);
        l->n = l->allocated = 0;
}

static int address_list_add(AddressList *l, const PciAddress *a) {
        assert(l);
        assert(a);

        FOREACH_ARRAY(i, l->addresses, l->n)
                if (pci_address_equal(i, a))
                        return 0;

        if (!GREEDY_REALLOC(l->addresses, l->allocated, l->n + 1))
                return -ENOMEM;
        l->addresses[l->n++] = *a;
        return 1;
}

/* The first <address> of the first <source>, as libvirt reads it. */
static int add_source_address(xmlNode *source, const char *what, unsigned index, AddressList *l,
                              char **reterr_message) {
        PciAddress a;
        xmlNode *address;
        int r;

        address = child_element(source, "address");
        if (!address)
                return fail(reterr_message, -EINVAL,
                            "%s #%u: missing <source><address> (the host PCI address of the device)", what, index);

        r = parse_host_address(address, what, index, &a, reterr_message);
        if (r < 0)
                return r;
        return address_list_add(l, &a);
}

static int handle_hostdev(xmlNode *hostdev, unsigned index, AddressList *l, char **reterr_message) {
        static const char *const other_types[] = { "usb", "scsi", "scsi_host", "mdev" };
        _cleanup_xml_free_ xmlChar *mode = NULL, *type = NULL;
        char buf[SHOWN_MAX];
        xmlNode *source;
        int r;

        r = get_attr(hostdev, "mode", &mode);
        if (r < 0)
                return r;
        /* libvirt's default mode is 'subsystem'. */
        if (mode && !xmlStrEqual(mode, BAD_CAST "subsystem")) {
                if (xmlStrEqual(mode, BAD_CAST "capabilities"))
                        return 0; /* storage, misc, net: not PCI devices */
                return fail(reterr_message, -EINVAL, "hostdev #%u: unknown mode '%s'", index, shown(mode, buf));
        }

        r = get_attr(hostdev, "type", &type);
        if (r < 0)
                return r;
        if (!type)
                return fail(reterr_message, -EINVAL, "hostdev #%u: missing attribute 'type'", index);
        if (!xmlStrEqual(type, BAD_CAST "pci")) {
                FOREACH_ARRAY(t, other_types, ELEMENTSOF(other_types))
                        if (xmlStrEqual(type, BAD_CAST * t))
                                return 0;
                /* Could be anything; libvirt refuses it, and so do we rather than miss a device. */
                return fail(reterr_message, -EINVAL, "hostdev #%u: unknown type '%s'", index, shown(type, buf));
        }

        source = child_element(hostdev, "source");
        if (!source)
                return fail(reterr_message, -EINVAL,
                            "hostdev #%u: missing <source> (the host PCI address of the device)", index);
        return add_source_address(source, "hostdev", index, l, reterr_message);
}

static int handle_interface(xmlNode *interface, unsigned index, AddressList *l, char **reterr_message) {
        _cleanup_xml_free_ xmlChar *type = NULL, *address_type = NULL;
        xmlNode *source, *address;
        char buf[SHOWN_MAX];
        int r;

        r = get_attr(interface, "type", &type);
        if (r < 0)
                return r;
        if (!type || !xmlStrEqual(type, BAD_CAST "hostdev"))
                return 0;

        /* libvirt takes the kind of device from ./source/address/@type; without one, a
         * <source><vendor> means USB. */
        source = child_element(interface, "source");
        if (!source)
                return fail(reterr_message, -EINVAL,
                            "interface #%u: missing <source> (the host PCI address of the device)", index);
        address = child_element(source, "address");
        if (address) {
                r = get_attr(address, "type", &address_type);
                if (r < 0)
                        return r;
        }
        if (!address_type) {
                if (child_element(source, "vendor"))
                        return 0;
                if (!address)
                        return fail(reterr_message, -EINVAL,
                                    "interface #%u: missing <source><address> (the host PCI address of the device)",
                                    index);
                return fail(reterr_message, -EINVAL, "interface #%u: missing attribute 'type' in <source><address>",
                            index);
        }
        if (xmlStrEqual(address_type, BAD_CAST "usb"))
                return 0;
        if (!xmlStrEqual(address_type, BAD_CAST "pci"))
                return fail(reterr_message, -EINVAL, "interface #%u: unknown type '%s' in <source><address>", index,
                            shown(address_type, buf));

        return add_source_address(source, "interface", index, l, reterr_message);
}

static int get_domain_name(xmlNode *root, char **ret) {
        _cleanup_xml_free_ xmlChar *content = NULL;
        xmlNode *name;

        name = child_element(root, "name");
        if (!name) {
                *ret = NULL;
                return 0;
        }
        content = xmlNodeGetContent(name); /* "" for an empty element, NULL only when out of memory */
        if (!content)
                return -ENOMEM;
        *ret = strdup((const char *) content);
        return *ret ? 0 : -ENOMEM;
}

int libvirt_hostdevs_parse(const char *xml, size_t size, LibvirtHostdevs *ret, char **reterr_message) {
        _cleanup_(xmlFreeParserCtxtp) xmlParserCtxtPtr ctxt = NULL;
        _cleanup_(xmlFreeDocp) xmlDocPtr doc = NULL;
        _cleanup_(libvirt_hostdevs_done) LibvirtHostdevs h = {};
        _cleanup_(address_list_done) AddressList l = {};
        ParseState s = {};
        unsigned n_hostdev = 0, n_interface = 0;
        char buf[SHOWN_MAX];
        xmlNode *root;
        int r;

        assert_return(xml || size == 0, -EINVAL);
        assert_return(ret, -EINVAL);

        if (size > INT_MAX)
                return fail(reterr_message, -EFBIG, "domain XML too large (%zu bytes)", size);

        xmlInitParser();
        ctxt = xmlNewParserCtxt();
        if (!ctxt || !ctxt->sax)
                return fail(reterr_message, -ENOMEM, "out of memory");

        doc = read_document(ctxt, xml ?: "", (int) size, &s);
        if (s.saw_doctype)
                return fail(reterr_message, -EBADMSG,
                            "DOCTYPE declarations are not accepted (libvirt never writes one)");
        /* Errors that are not fatal (such as an undeclared namespace prefix) do not stop libvirt
         * either. */
        if (!doc || !ctxt->wellFormed) {
                if (!s.have_error)
                        return fail(reterr_message, -EBADMSG, "malformed XML");
                if (s.error_line <= 0) /* character set conversion errors have no position */
                        return fail(reterr_message, -EBADMSG, "malformed XML: %s", s.error_message);
                if (s.error_column > 0)
                        return fail(reterr_message, -EBADMSG, "malformed XML at line %d, column %d: %s", s.error_line,
                                    s.error_column, s.error_message);
                return fail(reterr_message, -EBADMSG, "malformed XML at line %d: %s", s.error_line, s.error_message);
        }

        root = xmlDocGetRootElement(doc);
        if (!root)
                return fail(reterr_message, -EBADMSG, "malformed XML: no root element");
        if (!xmlStrEqual(root->name, BAD_CAST "domain"))
                return fail(reterr_message, -EBADMSG, "not a libvirt domain XML (root element is <%s>)",
                            shown(root->name, buf));

        for (xmlNode *devices = root->children; devices; devices = devices->next) {
                if (!node_is(devices, "devices"))
                        continue;

                for (xmlNode *d = devices->children; d; d = d->next) {
                        r = 0;
                        if (node_is(d, "hostdev"))
                                r = handle_hostdev(d, ++n_hostdev, &l, reterr_message);
                        else if (node_is(d, "interface"))
                                r = handle_interface(d, ++n_interface, &l, reterr_message);
                        if (r == -ENOMEM)
                                return fail(reterr_message, r, "out of memory");
                        if (r < 0)
                                return r;
                }
        }
        h.addresses = TAKE_PTR(l.addresses);
        h.n = l.n;

        r = get_domain_name(root, &h.domain_name);
        if (r < 0)
                return fail(reterr_message, r, "out of memory");

        *ret = h;
        h = (LibvirtHostdevs) {};
        return 0;
}

void libvirt_hostdevs_done(LibvirtHostdevs *h) {
        if (!h)
                return;
        free(h->addresses);
        free(h->domain_name);
        *h = (LibvirtHostdevs) {};
}
