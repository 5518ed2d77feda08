/* China's electronic invoices read from their files: the invoice data matching uses
 * (DOMAIN.md "Matching"), never a rendering.
 *
 * Layouts read (element and field names from public sources, found with the search
 * tool; no official schema is in the project):
 *   - The fully digitalised e-invoice (数电票) XML: root <EInvoice> (no namespace) with
 *     Header/EIid, EInvoiceData/SellerInformation/SellerIdNum,
 *     EInvoiceData/BuyerInformation/BuyerIdNum, EInvoiceData/BasicInformation/
 *     {TotalAmWithoutTax, TotalTaxAm, TotalTax-includedAmount, RequestTime} and
 *     TaxSupervisionInfo/{InvoiceNumber, IssueTime}. Seen in public parsers and test
 *     fixtures on GitHub (a Java reader with the paths /EInvoice/TaxSupervisionInfo/
 *     InvoiceNumber ... /EInvoiceData/BasicInformation/TotalTax-includedAmount, a
 *     Python toll-invoice test with a complete EInvoice sample). A 数电票 has no
 *     invoice code: its 20-digit number stands alone.
 *   - The earlier e-invoice XML (增值税电子普通发票): root <eInvoice>, elements in the
 *     "fp:" namespace: InvoiceCode, InvoiceNo, IssueDate, TaxExclusiveTotalAmount,
 *     TaxTotalAmount, TaxInclusiveTotalAmount, Seller/SellerTaxID, Buyer/BuyerTaxID
 *     (public OFD-invoice readers, e.g. the fp: mapping of several Java projects).
 *   - OFD invoices (GB/T 33190, a zip): OFD.xml's DocBody/DocInfo/CustomDatas/
 *     CustomData Name="发票号码|发票代码|开票日期|合计金额|合计税额|价税合计|
 *     销售方纳税人识别号|购买方纳税人识别号" (swpudp/OfdSharp src/OfdSharp/Reader/
 *     OfdReader.cs, hqbobo/cntax, and OFD.xml samples of issuers' SDKs quoted in
 *     public tests), and an original invoice XML carried as an attachment (an entry
 *     named original_invoice.xml or an .xml under an Attach/Attachs folder), in
 *     either XML layout above. Where both speak, the attached XML wins field by field.
 * Dates are given as YYYY-MM-DD when they read as one ("2025年01月06日",
 * "2026-02-28 10:00:00", "20260228..."), else as written. Amounts are kept as written
 * and must be decimals archive_amount_cents() reads.
 *
 * Not read: a PDF invoice (even with an embedded XML), an image, an OFD's page content
 * (text objects), signatures (nothing is verified: the data is what the file says).
 *
 * Safety: libxml2 (Debian's) parses with XML_PARSE_NONET, no entity substitution and
 * no DTD at all (a document with a DOCTYPE is refused before its declarations are
 * read), on at most EINVOICE_XML_MAX bytes. libzip (Debian's) reads an OFD: at most
 * EINVOICE_ZIP_ENTRIES_MAX entries, each entry read is refused when it says it is
 * larger than EINVOICE_XML_MAX and read through a cap, so a zip bomb is never
 * inflated beyond it; encrypted or inconsistent archives are errors. Malformed input
 * is an error with a message, never a crash.
 *
 * Threads: every function here may block (disk, parsing: a millisecond for a real
 * invoice, up to a few tens for 4 MiB of XML): worker threads only, never the loop.
 * Calls share nothing (libxml2 is initialised once, on the first call, under
 * pthread_once). This is the only file of the project that includes <libxml/...> or
 * <zip.h>. */
#ifndef IMGARC_ARCHIVE_EINVOICE_H
#define IMGARC_ARCHIVE_EINVOICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "base/err.h"

#define EINVOICE_XML_MAX (4u << 20)       /* bytes of one XML document or zip entry */
#define EINVOICE_ZIP_ENTRIES_MAX 4096     /* entries of an OFD */
#define EINVOICE_ATTACHMENTS_MAX 8        /* attached XMLs tried in one OFD */

/* The data read from an invoice; each field "" when the file does not give it. */
struct einvoice {
    char number[ARCHIVE_INVOICE_FIELD_MAX + 1];
    char code[ARCHIVE_INVOICE_FIELD_MAX + 1];
    char date[ARCHIVE_INVOICE_FIELD_MAX + 1];
    char amount[ARCHIVE_INVOICE_FIELD_MAX + 1]; /* before tax */
    char tax[ARCHIVE_INVOICE_FIELD_MAX + 1];
    char total[ARCHIVE_INVOICE_FIELD_MAX + 1]; /* tax included */
    char seller_tax_no[ARCHIVE_INVOICE_FIELD_MAX + 1];
    char buyer_tax_no[ARCHIVE_INVOICE_FIELD_MAX + 1];
    const char *layout; /* "einvoice-xml" (数电票), "fp-xml" (earlier) or "ofd"; static */
};

/* Which reader a file's format and first bytes call for: "xml", "ofd" (an OFD, or a
 * zip whose name said nothing, format "bin"), or NULL when it cannot be an
 * e-invoice. Cheap: runs anywhere. */
const char *einvoice_kind(const char *format, const uint8_t *head, size_t n);

/* Reads the invoice XML in @data (@len bytes, not NUL-terminated). 0 and *@out filled
 * (an invoice number at least), or BASE_ETOOBIG (over EINVOICE_XML_MAX) or
 * BASE_ECORRUPT (not well-formed, a DTD, not an invoice layout, a field too long or
 * an amount that is not a decimal) with the reason in @err; *@out untouched then. */
int einvoice_parse_xml(const void *data, size_t len, struct einvoice *out,
                       struct base_err *err) WARN_UNUSED;

/* The same for an OFD file held in memory (the zip's bytes; only read). */
int einvoice_parse_ofd(const void *data, size_t len, struct einvoice *out,
                       struct base_err *err) WARN_UNUSED;

/* Reads the complete file at @path as @kind ("xml" or "ofd", as einvoice_kind()
 * answered). Errors as above, BASE_IO when the file cannot be read, BASE_EINVAL for
 * another @kind. Blocks: worker threads only. */
int einvoice_read_file(const char *path, const char *kind, struct einvoice *out,
                       struct base_err *err) WARN_UNUSED;

/* Points @inv's fields at @e's (borrowed: valid while @e is); @inv is initialised. */
void einvoice_to_proto(const struct einvoice *e, Invoice *inv);

#endif
