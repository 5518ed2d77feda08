/* China's electronic invoices read from their files. See einvoice.h. */
#include "archive/einvoice.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <zip.h>

#include "base/mem.h"

enum field { F_NUMBER, F_CODE, F_DATE, F_AMOUNT, F_TAX, F_TOTAL, F_SELLER, F_BUYER, F_COUNT };

/* Where a field sits: an element named @name whose parent is named @parent ("*": any
 * parent). Among the paths of one field, the earlier in the table wins. */
struct path {
    const char *parent;
    const char *name;
    enum field field;
};

/* 数电票: root <EInvoice>. */
static const struct path einvoice_paths[] = {
    {"TaxSupervisionInfo", "InvoiceNumber", F_NUMBER},
    {"Header", "EIid", F_NUMBER},
    {"TaxSupervisionInfo", "IssueTime", F_DATE},
    {"*", "IssuTime", F_DATE},
    {"BasicInformation", "RequestTime", F_DATE},
    {"BasicInformation", "TotalAmWithoutTax", F_AMOUNT},
    {"BasicInformation", "TotalTaxAm", F_TAX},
    {"BasicInformation", "TotalTax-includedAmount", F_TOTAL},
    {"SellerInformation", "SellerIdNum", F_SELLER},
    {"BuyerInformation", "BuyerIdNum", F_BUYER},
};

/* The earlier e-invoice: root <eInvoice>, fp: elements. */
static const struct path fp_paths[] = {
    {"*", "InvoiceNo", F_NUMBER},
    {"*", "InvoiceCode", F_CODE},
    {"*", "IssueDate", F_DATE},
    {"*", "TaxExclusiveTotalAmount", F_AMOUNT},
    {"*", "TaxTotalAmount", F_TAX},
    {"*", "TaxInclusiveTotalAmount", F_TOTAL},
    {"Seller", "SellerTaxID", F_SELLER},
    {"Buyer", "BuyerTaxID", F_BUYER},
};

/* OFD.xml: CustomData Name="..." under CustomDatas. */
static const char *const custom_names[F_COUNT] = {
    "发票号码", "发票代码", "开票日期", "合计金额", "合计税额", "价税合计",
    "销售方纳税人识别号", "购买方纳税人识别号"};

static char *field_of(struct einvoice *e, enum field f)
{
    char *const slots[F_COUNT] = {e->number, e->code,  e->date,          e->amount,
                                  e->tax,    e->total, e->seller_tax_no, e->buyer_tax_no};
    return slots[f];
}

/* ---- Values ---- */

static bool is_space(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

/* A date as YYYY-MM-DD when it reads as one ("2025年1月6日", "2025-01-06 10:00:00",
 * "2025-01-06T...", "20250106..."); else unchanged. @s has room for 11 bytes. */
static void normalise_date(char *s)
{
    static const char nian[] = "\xE5\xB9\xB4", yue[] = "\xE6\x9C\x88", ri[] = "\xE6\x97\xA5";
    size_t n = strlen(s);
    unsigned y, m, d;
    const char *p;
    char *end;
    if (n >= 10 && all_digits(s, 4) && s[4] == '-' && all_digits(s + 5, 2) && s[7] == '-' &&
        all_digits(s + 8, 2) && (n == 10 || s[10] == ' ' || s[10] == 'T')) {
        s[10] = '\0';
        return;
    }
    if (n >= 8 && all_digits(s, n < 17 ? n : 17) && (n == 8 || n == 14 || n == 17)) {
        memmove(s + 8, s + 6, 2);
        memmove(s + 5, s + 4, 2);
        s[4] = '-';
        s[7] = '-';
        s[10] = '\0';
        return;
    }
    if (n < 4 + 3 + 1 + 3 + 1 + 3 || !all_digits(s, 4) || memcmp(s + 4, nian, 3) != 0) {
        return;
    }
    y = (unsigned)strtoul(s, NULL, 10);
    p = s + 7;
    if (*p < '0' || *p > '9' || (m = (unsigned)strtoul(p, &end, 10)) < 1 || m > 12 ||
        end - p > 2 || memcmp(end, yue, 3) != 0) {
        return;
    }
    p = end + 3;
    if (*p < '0' || *p > '9' || (d = (unsigned)strtoul(p, &end, 10)) < 1 || d > 31 ||
        end - p > 2 || memcmp(end, ri, 3) != 0) {
        return;
    }
    snprintf(s, 11, "%04u-%02u-%02u", y % 10000, m, d);
}

/* Stores @raw (trimmed) as field @f of @e, checked: at most 64 bytes, no control
 * characters, amounts decimal. @what names it in an error. */
static int set_field(struct einvoice *e, enum field f, const char *raw, const char *what,
                     struct base_err *err)
{
    size_t n = strlen(raw);
    char *dst = field_of(e, f);
    int64_t cents;
    while (n > 0 && is_space((unsigned char)raw[0])) {
        raw++;
        n--;
    }
    while (n > 0 && is_space((unsigned char)raw[n - 1])) {
        n--;
    }
    if (n > ARCHIVE_INVOICE_FIELD_MAX) {
        base_err_set(err, "%s: %zu bytes, more than an invoice field holds (%d)", what, n,
                     ARCHIVE_INVOICE_FIELD_MAX);
        return BASE_ECORRUPT;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)raw[i] < 0x20 || raw[i] == 0x7f) {
            base_err_set(err, "%s: a control character in the value", what);
            return BASE_ECORRUPT;
        }
    }
    memcpy(dst, raw, n);
    dst[n] = '\0';
    if ((f == F_AMOUNT || f == F_TAX || f == F_TOTAL) && n > 0 &&
        !archive_amount_cents(dst, &cents)) {
        base_err_set(err, "%s: '%s' is not a decimal amount", what, dst);
        dst[0] = '\0';
        return BASE_ECORRUPT;
    }
    if (f == F_DATE) {
        normalise_date(dst);
    }
    return 0;
}

/* ---- XML ---- */

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
    xmlInitParser();
}

/* A DOCTYPE stops the parse before any declaration of it is read: no entity of an
 * invoice is ever defined, so none is expanded (billion laughs) or fetched (XXE). */
static void refuse_dtd(void *ctx, const xmlChar *name, const xmlChar *external_id,
                       const xmlChar *system_id)
{
    (void)name;
    (void)external_id;
    (void)system_id;
    xmlStopParser((xmlParserCtxtPtr)ctx);
}

/* Parses @len bytes into a tree; NULL with the reason in @err. */
static xmlDocPtr xml_read(const void *data, size_t len, struct base_err *err, int *rv)
{
    xmlParserCtxtPtr ctxt;
    xmlDocPtr doc;
    if (len > EINVOICE_XML_MAX) {
        base_err_set(err, "%zu bytes of XML, more than the %u an invoice may have", len,
                     EINVOICE_XML_MAX);
        *rv = BASE_ETOOBIG;
        return NULL;
    }
    pthread_once(&xml_once, xml_init);
    ctxt = xmlNewParserCtxt();
    if (ctxt == NULL) {
        base_err_set(err, "the XML parser could not start");
        *rv = BASE_ENOMEM;
        return NULL;
    }
    ctxt->sax->internalSubset = refuse_dtd;
    doc = xmlCtxtReadMemory(ctxt, data, (int)len, NULL, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                XML_PARSE_NOCDATA);
    *rv = BASE_ECORRUPT;
    if (ctxt->errNo == XML_ERR_USER_STOP) {
        base_err_set(err, "an invoice XML with a DTD (<!DOCTYPE>) is not read");
        xmlFreeDoc(doc);
        doc = NULL;
    } else if (doc == NULL || !ctxt->wellFormed) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);
        size_t n;
        base_err_set(err, "not well-formed XML: line %d: %s", e != NULL ? e->line : 0,
                     e != NULL && e->message != NULL ? e->message : "unreadable");
        n = strlen(err->msg); /* libxml2's messages end with a newline */
        while (n > 0 && err->msg[n - 1] == '\n') {
            err->msg[--n] = '\0';
        }
        xmlFreeDoc(doc);
        doc = NULL;
    } else {
        *rv = 0;
    }
    xmlFreeParserCtxt(ctxt);
    return doc;
}

static bool named(const xmlNode *n, const char *name)
{
    return n != NULL && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* The next element of a depth-first walk of the tree under @root (NULL at its end). */
static xmlNode *walk_next(xmlNode *n, const xmlNode *root)
{
    if (n->children != NULL && n->type == XML_ELEMENT_NODE) {
        return n->children;
    }
    while (n != root) {
        if (n->next != NULL) {
            return n->next;
        }
        n = n->parent;
    }
    return NULL;
}

/* A field's text, or an error for a field with element content. */
static int take_text(struct einvoice *e, enum field f, xmlNode *n, struct base_err *err)
{
    xmlChar *text;
    int rv;
    for (xmlNode *c = n->children; c != NULL; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            base_err_set(err, "<%s> holds elements, not a value", (const char *)n->name);
            return BASE_ECORRUPT;
        }
    }
    text = xmlNodeGetContent(n);
    rv = set_field(e, f, text != NULL ? (const char *)text : "", (const char *)n->name, err);
    xmlFree(text);
    return rv;
}

/* Fills @e from the elements of @root that @paths name. */
static int read_paths(xmlNode *root, const struct path *paths, size_t n_paths,
                      struct einvoice *e, struct base_err *err)
{
    size_t best[F_COUNT];
    int rv = 0;
    for (size_t f = 0; f < F_COUNT; f++) {
        best[f] = n_paths; /* nothing yet */
    }
    for (xmlNode *n = root; n != NULL && rv == 0; n = walk_next(n, root)) {
        if (n->type != XML_ELEMENT_NODE) {
            continue;
        }
        for (size_t i = 0; i < n_paths && rv == 0; i++) {
            enum field f = paths[i].field;
            if (i >= best[f] || !named(n, paths[i].name) ||
                (strcmp(paths[i].parent, "*") != 0 && !named(n->parent, paths[i].parent))) {
                continue;
            }
            if ((rv = take_text(e, f, n, err)) == 0) {
                best[f] = i;
            }
        }
    }
    return rv;
}

/* Fills @e from OFD.xml's CustomData entries. */
static int read_custom_data(xmlNode *root, struct einvoice *e, struct base_err *err)
{
    int rv = 0;
    for (xmlNode *n = root; n != NULL && rv == 0; n = walk_next(n, root)) {
        xmlChar *name;
        if (!named(n, "CustomData") || !named(n->parent, "CustomDatas")) {
            continue;
        }
        name = xmlGetProp(n, (const xmlChar *)"Name");
        for (size_t f = 0; f < F_COUNT && name != NULL; f++) {
            if (strcmp((const char *)name, custom_names[f]) == 0 &&
                field_of(e, (enum field)f)[0] == '\0') {
                rv = take_text(e, (enum field)f, n, err);
                break;
            }
        }
        xmlFree(name);
    }
    return rv;
}

/* An invoice XML's tree into @e by its root: 数电票 or the earlier layout. */
static int read_invoice_tree(xmlDocPtr doc, struct einvoice *e, struct base_err *err)
{
    xmlNode *root = xmlDocGetRootElement(doc);
    int rv;
    if (named(root, "EInvoice")) {
        e->layout = "einvoice-xml";
        rv = read_paths(root, einvoice_paths, ARRAY_SIZE(einvoice_paths), e, err);
    } else if (named(root, "eInvoice")) {
        e->layout = "fp-xml";
        rv = read_paths(root, fp_paths, ARRAY_SIZE(fp_paths), e, err);
    } else {
        base_err_set(err, "the XML is not an e-invoice (root <%.40s>, not <EInvoice> or "
                          "<eInvoice>)",
                     root != NULL ? (const char *)root->name : "");
        return BASE_ECORRUPT;
    }
    if (rv == 0 && e->number[0] == '\0') {
        base_err_set(err, "the e-invoice XML gives no invoice number");
        rv = BASE_ECORRUPT;
    }
    return rv;
}

int einvoice_parse_xml(const void *data, size_t len, struct einvoice *out, struct base_err *err)
{
    struct einvoice e = {.layout = NULL};
    int rv;
    xmlDocPtr doc = xml_read(data, len, err, &rv);
    if (doc == NULL) {
        return rv;
    }
    rv = read_invoice_tree(doc, &e, err);
    xmlFreeDoc(doc);
    if (rv == 0) {
        *out = e;
    }
    return rv;
}

/* ---- OFD (zip) ---- */

/* Entry @i of @za, whole, in *@data (malloc'ed, NUL-terminated) and *@len: refused
 * when it says it is larger than EINVOICE_XML_MAX, and read through that cap. */
static int read_entry(zip_t *za, zip_uint64_t i, char **data, size_t *len, struct base_err *err)
{
    zip_stat_t st;
    zip_file_t *zf;
    char *buf;
    size_t got = 0;
    zip_int64_t n;
    zip_stat_init(&st);
    if (zip_stat_index(za, i, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) ||
        !(st.valid & ZIP_STAT_NAME)) {
        base_err_set(err, "zip entry %llu: %s", (unsigned long long)i, zip_strerror(za));
        return BASE_ECORRUPT;
    }
    if (st.size > EINVOICE_XML_MAX) {
        base_err_set(err, "zip entry %.64s: %llu bytes once inflated, more than the %u read",
                     st.name, (unsigned long long)st.size, EINVOICE_XML_MAX);
        return BASE_ETOOBIG;
    }
    if ((zf = zip_fopen_index(za, i, 0)) == NULL) {
        base_err_set(err, "zip entry %.64s: %s", st.name, zip_strerror(za));
        return BASE_ECORRUPT;
    }
    buf = xmalloc((size_t)st.size + 2);
    /* One byte more than it says: an entry longer than its size is refused. */
    while (got < (size_t)st.size + 1) {
        n = zip_fread(zf, buf + got, (zip_uint64_t)((size_t)st.size + 1 - got));
        if (n < 0) {
            base_err_set(err, "zip entry %.64s: %s", st.name, zip_file_strerror(zf));
            zip_fclose(zf);
            free(buf);
            return BASE_ECORRUPT;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    zip_fclose(zf);
    if (got != (size_t)st.size) {
        base_err_set(err, "zip entry %.64s: %zu bytes where it says %llu", st.name, got,
                     (unsigned long long)st.size);
        free(buf);
        return BASE_ECORRUPT;
    }
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return 0;
}

/* An entry that may be the original invoice XML an OFD carries as an attachment. */
static bool attachment_name(const char *name)
{
    const char *base = strrchr(name, '/');
    size_t n = strlen(name);
    base = base != NULL ? base + 1 : name;
    if (n < 4 || strcasecmp(name + n - 4, ".xml") != 0 ||
        strcasecmp(base, "Attachments.xml") == 0) {
        return false;
    }
    return strcasecmp(base, "original_invoice.xml") == 0 || strstr(name, "Attachs/") != NULL ||
           strstr(name, "Attach/") != NULL;
}

/* The first attachment of @za that reads as an invoice XML, in *@att; 1 when none. */
static int read_attachment(zip_t *za, zip_int64_t entries, struct einvoice *att,
                           struct base_err *err)
{
    int tried = 0;
    for (zip_int64_t i = 0; i < entries && tried < EINVOICE_ATTACHMENTS_MAX; i++) {
        const char *name = zip_get_name(za, (zip_uint64_t)i, 0);
        char *data;
        size_t len;
        int rv;
        if (name == NULL || !attachment_name(name)) {
            continue;
        }
        tried++;
        if ((rv = read_entry(za, (zip_uint64_t)i, &data, &len, err)) != 0) {
            return rv; /* a damaged or oversized part: the file is refused */
        }
        rv = einvoice_parse_xml(data, len, att, err);
        free(data);
        if (rv == 0) {
            return 0;
        }
    }
    return 1;
}

static int read_ofd(zip_t *za, struct einvoice *out, struct base_err *err)
{
    struct einvoice custom = {.layout = "ofd"}, att = {.layout = NULL};
    zip_int64_t entries = zip_get_num_entries(za, 0), at;
    char *data;
    size_t len;
    xmlDocPtr doc;
    int rv;
    if (entries < 0 || entries > EINVOICE_ZIP_ENTRIES_MAX) {
        base_err_set(err, "the OFD has %lld entries, more than the %d read", (long long)entries,
                     EINVOICE_ZIP_ENTRIES_MAX);
        return BASE_ETOOBIG;
    }
    if ((at = zip_name_locate(za, "OFD.xml", ZIP_FL_NOCASE)) < 0) {
        base_err_set(err, "not an OFD: the zip has no OFD.xml");
        return BASE_ECORRUPT;
    }
    if ((rv = read_entry(za, (zip_uint64_t)at, &data, &len, err)) != 0) {
        return rv;
    }
    doc = xml_read(data, len, err, &rv);
    free(data);
    if (doc == NULL) {
        base_err_wrap(err, "OFD.xml");
        return rv;
    }
    if (!named(xmlDocGetRootElement(doc), "OFD")) {
        base_err_set(err, "not an OFD: OFD.xml's root is not <ofd:OFD>");
        rv = BASE_ECORRUPT;
    } else {
        rv = read_custom_data(xmlDocGetRootElement(doc), &custom, err);
    }
    xmlFreeDoc(doc);
    if (rv != 0 || (rv = read_attachment(za, entries, &att, err)) < 0) {
        return rv;
    }
    if (rv == 0) { /* the attached original wins field by field */
        for (size_t f = 0; f < F_COUNT; f++) {
            if (field_of(&att, (enum field)f)[0] != '\0') {
                strcpy(field_of(&custom, (enum field)f), field_of(&att, (enum field)f));
            }
        }
    }
    if (custom.number[0] == '\0') {
        base_err_set(err, "the OFD carries no invoice data (no 发票号码 in OFD.xml's "
                          "CustomDatas, no original invoice XML attached)");
        return BASE_ECORRUPT;
    }
    *out = custom;
    return 0;
}

static int zip_failed(zip_error_t *ze, struct base_err *err)
{
    base_err_set(err, "not a readable zip (OFD): %s", zip_error_strerror(ze));
    zip_error_fini(ze);
    return BASE_ECORRUPT;
}

int einvoice_parse_ofd(const void *data, size_t len, struct einvoice *out, struct base_err *err)
{
    zip_error_t ze;
    zip_source_t *src;
    zip_t *za;
    int rv;
    zip_error_init(&ze);
    if ((src = zip_source_buffer_create(len > 0 ? data : "", len, 0, &ze)) == NULL) {
        return zip_failed(&ze, err);
    }
    if ((za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze)) == NULL) {
        zip_source_free(src);
        return zip_failed(&ze, err);
    }
    zip_error_fini(&ze);
    rv = read_ofd(za, out, err);
    zip_discard(za); /* frees the source too */
    return rv;
}

static int ofd_file(const char *path, struct einvoice *out, struct base_err *err)
{
    zip_error_t ze;
    int code = 0, rv;
    zip_t *za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &code);
    if (za == NULL) {
        zip_error_init_with_code(&ze, code);
        return zip_failed(&ze, err);
    }
    rv = read_ofd(za, out, err);
    zip_discard(za);
    return rv;
}

static int xml_file(const char *path, struct einvoice *out, struct base_err *err)
{
    struct stat st;
    char *data;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rv;
    if (fd < 0 || fstat(fd, &st) != 0) {
        base_err_set(err, "%s: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return BASE_EIO;
    }
    if (st.st_size > (off_t)EINVOICE_XML_MAX) {
        close(fd);
        base_err_set(err, "%lld bytes of XML, more than the %u an invoice may have",
                     (long long)st.st_size, EINVOICE_XML_MAX);
        return BASE_ETOOBIG;
    }
    data = xmalloc((size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            base_err_set(err, "%s: %s", path, n < 0 ? strerror(errno) : "shorter than its size");
            close(fd);
            free(data);
            return BASE_EIO;
        }
        got += (size_t)n;
    }
    close(fd);
    rv = einvoice_parse_xml(data, got, out, err);
    free(data);
    return rv;
}

int einvoice_read_file(const char *path, const char *kind, struct einvoice *out,
                       struct base_err *err)
{
    if (kind != NULL && strcmp(kind, "xml") == 0) {
        return xml_file(path, out, err);
    }
    if (kind != NULL && strcmp(kind, "ofd") == 0) {
        return ofd_file(path, out, err);
    }
    base_err_set(err, "no e-invoice reader for '%s'", kind != NULL ? kind : "");
    return BASE_EINVAL;
}

const char *einvoice_kind(const char *format, const uint8_t *head, size_t n)
{
    if (strcmp(format, "xml") == 0) {
        return "xml";
    }
    if (strcmp(format, "ofd") == 0 ||
        (strcmp(format, "bin") == 0 && n >= 4 && memcmp(head, "PK\x03\x04", 4) == 0)) {
        return "ofd";
    }
    return NULL;
}

void einvoice_to_proto(const struct einvoice *e, Invoice *inv)
{
    invoice__init(inv);
    inv->number = (char *)e->number;
    inv->code = (char *)e->code;
    inv->date = (char *)e->date;
    inv->amount = (char *)e->amount;
    inv->tax = (char *)e->tax;
    inv->total = (char *)e->total;
    inv->seller_tax_no = (char *)e->seller_tax_no;
    inv->buyer_tax_no = (char *)e->buyer_tax_no;
}
