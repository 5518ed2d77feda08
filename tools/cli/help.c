/* The command table (name, function, overview line, help text) and the help texts,
 * byte for byte what `imgarc help`, `imgarc --help` and `imgarc COMMAND --help` print:
 * scripts and docs/cli.md quote them. */
#include "tools/cli/cli.h"

#include <stdio.h>
#include <string.h>

void print_help(const char *cmd, FILE *out)
{
    char name[16];
    const struct command *c;
    snprintf(name, sizeof name, "%.*s", (int)strcspn(cmd, " "), cmd);
    c = find_command(name);
    fputs(c->help, out);
    fputs("\nGlobal flags (--server URL, --token T, --tenant ID) and exit codes: "
          "'imgarc help'.\n",
          out);
}

static int cmd_help(struct cli *cli, int argc, char **argv)
{
    const struct command *c;
    (void)cli; /* help needs no connection settings */
    if (argc == 0) {
        print_overview(stdout);
        return 0;
    }
    if (argc > 1) {
        return usage_error("help", "unexpected argument '%s'", argv[1]);
    }
    /* 'imgarc help --help', which a usage error of help's own suggests: help's text,
     * not "unknown command '--help'" and the same suggestion again. */
    c = find_command(strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 ? "help"
                                                                                    : argv[0]);
    if (c == NULL) {
        return usage_error("help", "unknown command '%s'", argv[0]);
    }
    print_help(c->name, stdout);
    return 0;
}

/* ---- Help texts and the command table ---- */

static const char pool_help[] =
    "Usage: imgarc pool push IMAGE_NO [flags]\n"
    "\n"
    "Pushes the business system's pool bill for IMAGE_NO: creates it (state\n"
    "pending_upload) or, when it exists, updates its pool fields. Pushing again is safe.\n"
    "\n"
    "Flags:\n"
    "  --bill-no X            the business system's bill number\n"
    "  --bill-type X          the bill type\n"
    "  --org X                the organization\n"
    "  --submitter X          who submitted the bill\n"
    "  --amount 12.50         the amount, a decimal number\n"
    "  --currency CNY         the currency\n"
    "  --invoice SPEC         a declared invoice; repeat for several. SPEC is\n"
    "                         number=..,code=..,date=..,amount=..,tax=..,total=..\n"
    "                         (any of the keys, comma-separated)\n"
    "  --fbill-id X           the ERP's id of the bill: one bill per id in the tenant,\n"
    "                         never changed once set (409 fbill_id_conflict)\n"
    "  --source X             the calling system, e.g. EAS\n"
    "  --bill-type-name X, --submitter-phone X, --submitter-erp-name X,\n"
    "  --org-name X, --tax-no X   the ERP's names and numbers of the bill\n"
    "  --idempotency-key K    a retry with the same K returns the first answer\n"
    "  --json                 print the server's JSON answer\n"
    "\n"
    "Prints \"IMAGE_NO: created, state pending_upload (index N)\" (\"updated\" when the\n"
    "bill existed).\n";

static const char upload_help[] =
    "Usage: imgarc upload IMAGE_NO FILE... [flags]\n"
    "\n"
    "Uploads each FILE to the bill IMAGE_NO, one request per file, in the order given,\n"
    "streaming it from disk. The bill is created when IMAGE_NO is new. Stops at the\n"
    "first failure and says which files were uploaded before it. A progress line shows\n"
    "on stderr for files over 4 MiB when stderr is a terminal.\n"
    "\n"
    "Flags:\n"
    "  --category C           cover, invoice, attachment or a custom category for every\n"
    "                         FILE (default: the server classifies each file)\n"
    "  --after FILE_ID        insert the first FILE right after FILE_ID, the next ones\n"
    "                         each after the previous (default: append)\n"
    "  --replace FILE_ID      the one FILE replaces FILE_ID: it takes its place and\n"
    "                         category, and the replaced file is gone\n"
    "  --idempotency-key K    K for one FILE; K.1, K.2... for several, so rerunning the\n"
    "                         same command after a failure replays the files already\n"
    "                         uploaded instead of adding them twice\n"
    "  --json                 print the server's JSON answers, one per line\n"
    "  --resumable            send each FILE as a resumable upload, in pieces; a piece\n"
    "                         that fails is resumed from what the node kept\n"
    "  --piece-size N         bytes per piece with --resumable (64K-1G, default 8M)\n"
    "  --retries N            failed attempts in a row before giving up (default 8)\n"
    "  --upload-id ID         continue the resumable upload ID (one FILE), as a\n"
    "                         failed run prints it\n"
    "\n"
    "Prints one line per file: FILE_ID CATEGORY POSITION SIZE NAME.\n";

static const char submit_help[] =
    "Usage: imgarc submit IMAGE_NO [--json]\n"
    "\n"
    "Submits the bill: captured -> submitted -> ready in basic and sync mode; in match\n"
    "mode it is ready only once every declared invoice is matched ('imgarc match show'\n"
    "says why not). Submitting a bill already submitted changes nothing.\n"
    "\n"
    "Prints \"IMAGE_NO: state S, ready (index N)\" or \"..., not ready yet (...)\".\n";

static const char status_help[] =
    "Usage: imgarc status IMAGE_NO [--json]\n"
    "\n"
    "Whether the bill's images are ready and, if not, why: state, ready, file counts\n"
    "per category, declared and matched invoices, and the reasons it is not ready.\n";

static const char get_help[] =
    "Usage: imgarc get IMAGE_NO [--json]\n"
    "\n"
    "The bill's fields and declared invoices, then its files in bill order:\n"
    "POS FILE_ID CATEGORY FORMAT PAGES SIZE NAME.\n";

static const char download_help[] =
    "Usage: imgarc download FILE_ID [-o PATH] [--range FIRST-LAST]\n"
    "\n"
    "Streams a file's content to PATH, or to stdout (not a terminal) without -o or with\n"
    "-o -. PATH is written as PATH.part and renamed once complete, so a failed download\n"
    "leaves nothing under PATH. Prints nothing on success.\n"
    "\n"
    "Flags:\n"
    "  -o, --output PATH      where to write the content\n"
    "  --range R              only bytes R: FIRST-LAST (LAST included), FIRST- or\n"
    "                         -SUFFIX (the last SUFFIX bytes)\n";

static const char log_help[] =
    "Usage: imgarc log IMAGE_NO [--json]\n"
    "\n"
    "The bill's audit log, oldest first, one line per entry:\n"
    "INDEX TIME ACTION OPERATOR REQUEST_ID DETAIL (DETAIL as compact JSON).\n";

static const char export_help[] =
    "Usage: imgarc export IMAGE_NO... -o FILE.zip\n"
    "       imgarc export [--state S] [--bill-type T] [--org O] [--bill-no B]\n"
    "                     [--fbill-id F] [--created-from T] [--created-to T] [--mode M]\n"
    "                     -o FILE.zip\n"
    "       imgarc export --all -o FILE.zip\n"
    "\n"
    "Bills for an auditor, as one zip: each bill's record (IMAGE_NO/bill.json), its audit\n"
    "log (IMAGE_NO/log.json) and its files in bill order (IMAGE_NO/files/NNN-FILE_ID-NAME),\n"
    "with manifest.json and manifest.csv listing every file's size, BLAKE2b-256 (its\n"
    "blob) and SHA-256. The bills are named, or chosen by the filters of 'imgarc bills'\n"
    "(all pages), or --all of the tenant's. Each file is checked against its blob hash\n"
    "as it arrives; FILE.zip is written as FILE.zip.part and renamed once complete.\n"
    "No bill matching: exit 1, nothing written. 'imgarc export-verify' checks an export.\n";

static const char backup_help[] =
    "Usage: imgarc backup DIR [--parallel N] [--json]\n"
    "\n"
    "Backs up the whole cluster into DIR (the operator token): the metadata store at one\n"
    "raft index, taken after a read index so it holds every write acknowledged before\n"
    "the backup began, and the content of every file it references. DIR keeps any\n"
    "number of backups: content is stored once by its BLAKE2b-256 name and a later\n"
    "backup fetches only what DIR lacks. Every blob is checked against its name as it\n"
    "arrives; the backup exists once DIR/metadata/INDEX.json is written, last. A new\n"
    "DIR is created; an existing one must be empty or hold backups.\n"
    "--parallel N: blobs fetched at once, each over its own connection (1-64,\n"
    "default 8).\n"
    "--json: {index, metadata_blake2b, records, blobs, blob_bytes, fetched,\n"
    "fetched_bytes, seconds}.\n";

static const char backup_prune_help[] =
    "Usage: imgarc backup-prune DIR --keep N [--dry-run] [--json]\n"
    "\n"
    "Keeps the newest N backups in DIR and removes the older ones, then every blob no\n"
    "remaining backup references, and what interrupted backups left behind. The\n"
    "remaining backups' metadata is read (and its checksum checked) before anything is\n"
    "removed; a backup is removed manifest first. DIR is locked: a backup or another\n"
    "prune running on it meanwhile is refused. Works offline.\n"
    "\n"
    "Flags:\n"
    "  --keep N     the newest backups that stay (1 or more)\n"
    "  --dry-run    say what would be removed, remove nothing\n"
    "  --json       {kept, removed, blobs_removed, bytes_removed, blobs_kept,\n"
    "               bytes_kept, leftovers, dry_run}\n";

static const char backup_verify_help[] =
    "Usage: imgarc backup-verify DIR [--index N] [--json]\n"
    "\n"
    "Checks a backup offline: the metadata's checksum against its manifest, and every\n"
    "referenced blob's size and BLAKE2b-256 against its name. The newest backup in DIR,\n"
    "or the one at raft index N. Prints 'valid: ...' (exit 0), or each problem on\n"
    "stderr and 'not valid: N problems' (exit 1). --json: {valid, problems, index,\n"
    "records, blobs, blob_bytes}.\n";

static const char restore_help[] =
    "Usage: imgarc restore DIR --data DATA [--index N] [--json]\n"
    "\n"
    "Writes a new node's data dir DATA (absent or empty) from the newest backup in DIR,\n"
    "or the one at raft index N: the metadata store and every referenced blob, each\n"
    "checked against its name. Offline: no server is asked. Then start imgarcd on DATA\n"
    "(without --join): it founds a new cluster holding the archive as it was at the\n"
    "backup's index, and other nodes join it. A blob the backup lacks is named and the\n"
    "exit status is 5. --json: {index, data_dir, blobs, blob_bytes, missing}.\n";

static const char export_verify_help[] =
    "Usage: imgarc export-verify FILE.zip [--json]\n"
    "\n"
    "Checks an export against its manifest, offline: every file's size, BLAKE2b-256 and\n"
    "SHA-256, each bill.json and log.json, manifest.csv against manifest.json, and no\n"
    "entry the manifest does not name. Prints 'valid: ...' (exit 0), or each problem on\n"
    "stderr and 'not valid: N problems' (exit 1). --json: {valid, problems, bills,\n"
    "files, bytes}.\n";

static const char bills_help[] =
    "Usage: imgarc bills [--state S] [--bill-type T] [--org O] [--bill-no B]\n"
    "                    [--fbill-id F] [--image-no I] [--created-from T]\n"
    "                    [--created-to T] [--mode M] [--limit N] [--all] [--cursor C]\n"
    "                    [--json]\n"
    "\n"
    "Lists bills in image-number order, a page at a time:\n"
    "IMAGE_NO BILL_NO BILL_TYPE ORG STATE FILES UPDATED.\n"
    "\n"
    "Flags:\n"
    "  --state S, --bill-type T, --org O, --bill-no B, --fbill-id F, --image-no I\n"
    "                         only bills with exactly these values (combined)\n"
    "  --created-from T       created at or after T (RFC 3339, or a date: UTC midnight)\n"
    "  --created-to T         created before T (a date: up to the end of that day)\n"
    "  --mode M               the image mode decided at submit: basic, sync or match\n"
    "  --limit N              bills per page, 1-1000 (server default 100)\n"
    "  --all                  follow next_cursor to the last page\n"
    "  --cursor C             start after image number C (a page's next_cursor)\n"
    "  --json                 print the server's page; with --all, one JSON object\n"
    "                         per bill and line\n";

static const char license_help[] =
    "Usage: imgarc license keygen --out DIR\n"
    "       imgarc license sign --key FILE --tenant ID --expires TIME --quota-bytes N\n"
    "                           --modes basic,sync,match [--max-files N] [--issued TIME]\n"
    "                           [--id LICENSE_ID]\n"
    "       imgarc license verify --pub FILE [DOCUMENT_FILE|-] [--json]\n"
    "       imgarc license install DOCUMENT_FILE|- [--json]\n"
    "       imgarc license show [--json]\n"
    "\n"
    "Signed licenses: a tenant's expiry, storage quota and modes. keygen, sign and\n"
    "verify work offline; install and show talk to the node.\n"
    "\n"
    "keygen   writes DIR/license.key (the secret key, mode 0600) and DIR/license.pub\n"
    "         (mode 0644; nodes trust it with --license-pubkey). Creates DIR (mode\n"
    "         0700) when missing; never overwrites a key file (exit 4).\n"
    "sign     prints the license document, signed with the secret key FILE:\n"
    "  --tenant ID            the tenant it is for\n"
    "  --expires TIME         RFC 3339, e.g. 2027-12-31T00:00:00Z\n"
    "  --quota-bytes N        storage quota in bytes; a K, M, G or T suffix\n"
    "                         multiplies by a power of 1024 (10G)\n"
    "  --modes LIST           comma-separated: basic, sync, match\n"
    "  --max-files N          at most N files (default 0: no limit)\n"
    "  --issued TIME          default now; a license replaces only one issued earlier\n"
    "  --id LICENSE_ID        default lic-<16 random hex digits>\n"
    "verify   checks a document (a file, or stdin for - or none) against the public\n"
    "         key FILE and prints its fields; exit 1 when it is not valid.\n"
    "install  sends the document to the node, which verifies it and puts it in force\n"
    "         on every node. With --tenant, it must be the license's tenant.\n"
    "show     the license in force for --tenant (default: default) and every license\n"
    "         the tenant has had.\n";

static const char bill_type_help[] =
    "Usage: imgarc bill-type create CODE --mode basic|sync|match [--name NAME] [--json]\n"
    "       imgarc bill-type list [--json]\n"
    "\n"
    "The tenant's bill types; a pool bill names one with --bill-type.\n"
    "\n"
    "create   defines CODE (1-64 characters of A-Z a-z 0-9 . _ -) with its image mode:\n"
    "         basic (ready once submitted), sync (ready once submitted; amends\n"
    "         allowed after) or match (ready once every declared invoice is matched),\n"
    "         named NAME (default: CODE). Creating CODE again updates it. Needs admin.\n"
    "         A bill type takes effect with a scheme: without one it behaves as basic.\n"
    "list     every bill type: CODE MODE CREATED NAME.\n";

static const char scheme_help[] =
    "Usage: imgarc scheme set BILL_TYPE [--org ORG] [--match normal|standard]\n"
    "                         [--submit auto|manual] [--json]\n"
    "       imgarc scheme list [--json]\n"
    "\n"
    "How bills of a type are matched and sent to the ERP.\n"
    "\n"
    "set      sets the scheme of BILL_TYPE, replacing the one it had (flags not given\n"
    "         take the defaults again). Needs admin.\n"
    "  --org ORG              only for organisation ORG and those under it (default:\n"
    "                         every organisation); the most specific scheme wins\n"
    "  --match L              normal (default): invoice number and total; standard:\n"
    "                         also code, date, amount before tax and tax\n"
    "  --submit S             manual (default): 'imgarc erp-submit'; auto: a bill goes\n"
    "                         to the ERP as soon as it is ready\n"
    "list     every scheme: BILL_TYPE ORG (- for every one) MATCH SUBMIT UPDATED.\n";

static const char category_help[] =
    "Usage: imgarc category create CODE [--name NAME] [--json]\n"
    "       imgarc category list [--json]\n"
    "\n"
    "Custom categories: sub-categories of attachments that uploads and 'categorize'\n"
    "may use besides cover, invoice and attachment.\n"
    "\n"
    "create   defines CODE (1-31 characters of A-Z a-z 0-9 . _ -, not a built-in\n"
    "         category) named NAME (default: CODE); again, it renames. Needs admin.\n"
    "list     the built-in categories, then the custom ones: CODE KIND CREATED NAME.\n";

static const char invoice_help[] =
    "Usage: imgarc invoice set IMAGE_NO FILE_ID --number N [--code C] [--date D]\n"
    "                          [--amount A] [--tax T] [--total T] [--json]\n"
    "\n"
    "Sets the data of the invoice file FILE_ID as recognised or corrected by a person;\n"
    "matching compares it with the invoices the pool bill declares. The data given\n"
    "replaces the file's data as a whole: fields not given are cleared. Amounts are\n"
    "decimal numbers with at most two decimals (12.50). Only for unmatched files of\n"
    "category invoice while the bill is captured, returned or submitted; correct, then\n"
    "'imgarc match run'.\n";

static const char match_help[] =
    "Usage: imgarc match run IMAGE_NO [--json]\n"
    "       imgarc match show IMAGE_NO [--json]\n"
    "       imgarc match file IMAGE_NO FILE_ID INVOICE_NUMBER [--json]\n"
    "       imgarc match undo IMAGE_NO FILE_ID [--json]\n"
    "\n"
    "Matching of a match-mode bill's invoice files to the invoices its pool bill\n"
    "declares; once every declared invoice is matched the bill is ready.\n"
    "\n"
    "run      runs automatic matching again on a submitted bill (after 'imgarc\n"
    "         invoice set' corrected the data).\n"
    "show     the declared invoices and the file matching each, then every invoice\n"
    "         file with its data, its match and, when it has none, the problem:\n"
    "         DECLARED CODE DATE AMOUNT TAX TOTAL MATCHED_BY and\n"
    "         POS INVOICE_FILE NUMBER CODE DATE AMOUNT TAX TOTAL MATCH PROBLEM.\n"
    "file     matches FILE_ID to the declared invoice INVOICE_NUMBER by a person's\n"
    "         decision, without comparing the data.\n"
    "undo     unmatches FILE_ID; a ready bill goes back to submitted.\n";

static const char erp_submit_help[] =
    "Usage: imgarc erp-submit IMAGE_NO [--json]\n"
    "\n"
    "Sends a ready bill (or one whose ERP submission failed) to the ERP: the node\n"
    "queues one delivery to the tenant's webhook for the event erp_submit. Its\n"
    "answer makes the bill erp_submitted or erp_failed; 'imgarc status' shows which,\n"
    "and why it failed.\n";

static const char return_help[] =
    "Usage: imgarc return IMAGE_NO --reason TEXT [--json]\n"
    "\n"
    "Sends a submitted, ready or erp_failed bill back for rescanning: it becomes\n"
    "returned, 'imgarc status' shows the reason, and the next upload makes it\n"
    "captured again. TEXT (1-1024 bytes) says what to rescan and why. Needs the\n"
    "review permission.\n";

static const char hold_help[] =
    "Usage: imgarc hold place IMAGE_NO --reason TEXT [--json]\n"
    "       imgarc hold lift IMAGE_NO HOLD_ID [--reason TEXT] [--json]\n"
    "       imgarc hold list IMAGE_NO [--json]\n"
    "\n"
    "Legal holds on a bill. While a bill has a hold, none of its files may be deleted\n"
    "or replaced, by anyone (the operator included); everything else goes on. place\n"
    "puts a hold with TEXT (1-1024 bytes: the case, order or audit it is kept for)\n"
    "and prints its id; lift removes one hold by its id, with an optional TEXT; list\n"
    "shows the holds in force. Every step is in the bill's audit log ('imgarc log').\n"
    "Needs the hold permission (tenant_admin, the operator, or a custom role that\n"
    "names it; never a business-system client).\n";

static const char retention_help[] =
    "Usage: imgarc retention show [--json]\n"
    "       imgarc retention set [--bill-type CODE] --years N|permanent|inherit [--json]\n"
    "\n"
    "Retention periods: how long a bill is kept before it may be deleted, counted in\n"
    "whole years from the first day after the year of its creation (UTC). A bill type\n"
    "without its own period takes the tenant's default; without a default, 30 years.\n"
    "show lists the default and every bill type's period with where it is set; set\n"
    "changes the default (no --bill-type) or one bill type's period (0-1000 years,\n"
    "permanent, or inherit to take the setting away). A bill keeps the end date it was\n"
    "stamped with: a shorter period set later never releases it early. set needs the\n"
    "admin permission; every change is in the admin audit log ('imgarc audit').\n";

static const char delete_bill_help[] =
    "Usage: imgarc delete-bill IMAGE_NO [--reason TEXT] [--json]\n"
    "\n"
    "Deletes a bill with its files, audit log, ERP id and webhook deliveries; content\n"
    "no other bill references is deleted from every node after the garbage grace\n"
    "period. Refused (409) while the bill has a legal hold ('imgarc hold') or its\n"
    "retention period runs ('imgarc retention'), for anyone. A summary (files with\n"
    "their BLAKE2b names, the reason, who) stays in the admin audit log: run 'imgarc\n"
    "export' first to keep the whole bill for an auditor. Needs the admin permission.\n";

static const char categorize_help[] =
    "Usage: imgarc categorize IMAGE_NO --category C FILE_ID... [--json]\n"
    "\n"
    "Sets the category of the files: cover, attachment or a custom category for\n"
    "any number of files; invoice for one file at a time. Before submit (and after\n"
    "a return).\n";

static const char rotate_help[] =
    "Usage: imgarc rotate IMAGE_NO --degrees 90|-90|180 FILE_ID... [--json]\n"
    "\n"
    "Rotates the files right (90), left (-90) or upside down (180); each file keeps\n"
    "its rotation (0, 90, 180 or 270, 'imgarc get --json'). Before submit.\n";

static const char move_help[] =
    "Usage: imgarc move IMAGE_NO FILE_ID (--after FILE_ID | --first) [--category C]\n"
    "                   [--json]\n"
    "\n"
    "Moves a file right after another one, or to the front. A file keeps its\n"
    "category next to a file of its own category; landing in another category's\n"
    "section makes it that category, which --category confirms (without it the\n"
    "node refuses, naming the category). Before submit.\n";

static const char delete_files_help[] =
    "Usage: imgarc delete-files IMAGE_NO FILE_ID... [--json]\n"
    "\n"
    "Deletes the files from the bill, content and usage included. Before submit;\n"
    "after it, a caller with the amend permission may delete files of a ready sync-\n"
    "mode bill, but not its cover or matched invoices. Needs the delete permission.\n";

static const char merge_help[] =
    "Usage: imgarc merge IMAGE_NO FILE_ID FILE_ID... [--json]\n"
    "\n"
    "Merges 2-100 adjacent files, given in bill order, into one document: the first\n"
    "file, whose category the others take; they become its sub-pages and take no\n"
    "part in matching. 'imgarc split' gives them back.\n";

static const char split_help[] =
    "Usage: imgarc split IMAGE_NO FILE_ID [--json]\n"
    "\n"
    "Splits the merged document FILE_ID back into its files, in place, each with the\n"
    "category it had in the document.\n";

static const char tenant_help[] =
    "Usage: imgarc tenant create ID [--name NAME] [--json]\n"
    "       imgarc tenant list [--json]\n"
    "       imgarc tenant delete ID --confirm ID [--reason R] [--json]\n"
    "\n"
    "create   creates the tenant ID (1-64 characters of A-Z a-z 0-9 . _ -), named NAME\n"
    "         (default: ID). It has no license until one is installed.\n"
    "list     every tenant: ID LICENSE EXPIRES QUOTA CREATED NAME.\n"
    "delete   deletes the tenant ID with every bill, file, user, client, webhook and\n"
    "         setting it has (--confirm repeats the id). Refused while any of its bills\n"
    "         is under a legal hold or in its retention period, above 10000 bills, and\n"
    "         for the default tenant. A summary stays in the default tenant's audit log.\n";

static const char usage_help[] =
    "Usage: imgarc usage [--json]\n"
    "\n"
    "What the tenant of --tenant (default: default) stores against its license: bytes,\n"
    "quota and the share used, files and the file limit, bills, physical bytes, the\n"
    "license, warnings, then one line per organization: ORG SIZE BYTES FILES BILLS.\n";

static const char login_help[] =
    "Usage: imgarc login USERNAME [--password-file FILE] [--json]\n"
    "\n"
    "Logs a user in (POST /api/v1/auth/login) in the tenant of --tenant (default:\n"
    "default) and prints \"export IMGARC_TOKEN=...\" on stdout, so that\n"
    "  eval \"$(imgarc login ann)\"\n"
    "sets the token for the next commands; who and when the token expires go to stderr.\n"
    "The password is the first line of FILE or of stdin (not echoed on a terminal);\n"
    "never give it on the command line. Five wrong passwords in a row lock the account.\n"
    "\n"
    "Flags:\n"
    "  --password-file FILE   read the password from FILE's first line\n"
    "  --json                 print the server's answer (token included) instead\n";

static const char user_help[] =
    "Usage: imgarc user create USERNAME --role ROLE [--role ROLE]... [--name NAME]\n"
    "                          [--password-file FILE] [--json]\n"
    "       imgarc user list [--json]\n"
    "       imgarc user show USERNAME [--json]\n"
    "       imgarc user update USERNAME [--name NAME] [--role ROLE]... [--json]\n"
    "       imgarc user disable USERNAME [--json]\n"
    "       imgarc user enable USERNAME [--json]\n"
    "       imgarc user passwd USERNAME [--password-file FILE] [--json]\n"
    "       imgarc user passwd --own [--password-file FILE] [--json]\n"
    "       imgarc user delete USERNAME [--json]\n"
    "       imgarc user unlock USERNAME [--json]\n"
    "       imgarc user grants USERNAME [--org ID[:children]]... [--all] [--json]\n"
    "\n"
    "Users of the tenant of --tenant (default: default); needs the admin permission\n"
    "(but passwd --own, which any user runs with its own token).\n"
    "\n"
    "create   creates USERNAME (1-64 characters of A-Z a-z 0-9 . _ -) with its roles\n"
    "         (scanner, reviewer, tenant_admin or a custom role; repeat --role) and\n"
    "         display NAME (default: USERNAME). The password (8-1024 bytes) is the\n"
    "         first line of --password-file FILE or of stdin (not echoed on a terminal).\n"
    "list     every user: USERNAME ROLES FAILURES LOCKED_UNTIL CREATED NAME.\n"
    "show     one user: name, roles, disabled, failures, lock, grants, created.\n"
    "update   sets the display --name and/or replaces the roles (repeat --role). New\n"
    "         roles end the user's sessions (its tokens stop at once, on every node).\n"
    "disable  the user cannot log in and its tokens stop; its record, roles and grants\n"
    "         stay. enable lets it log in again (old tokens stay stopped).\n"
    "passwd   an admin's reset: the new password (8-1024 bytes) is the first line of\n"
    "         --password-file FILE or of stdin; wrong passwords and the lock are cleared.\n"
    "         With --own, your own password: the current one, then the new one, one per\n"
    "         line (wrong current ones count as failed logins). Either way every token of\n"
    "         the user stops; --own prints export IMGARC_TOKEN=... with a new one.\n"
    "delete   a leaver: the user goes and its tokens stop; the audit log keeps its\n"
    "         history. A tenant is never left without an enabled admin (update, disable\n"
    "         and delete refuse that: 409 last_admin).\n"
    "unlock   unlocks an account locked by wrong passwords.\n"
    "grants   replaces the user's data grants: the organisations whose bills a user\n"
    "         without the admin permission sees.\n"
    "  --org ID               grant the organisation ID; ID:children also grants\n"
    "                         every organisation under it. Repeat for several.\n"
    "  --all                  grant every bill (\"*\"), bills without an organisation too\n"
    "         Without --org and --all the user's grants are cleared: such a user sees\n"
    "         no bill.\n";

static const char role_help[] =
    "Usage: imgarc role create NAME --permission P [--permission P]... [--json]\n"
    "       imgarc role list [--json]\n"
    "       imgarc role update NAME --permission P [--permission P]... [--json]\n"
    "       imgarc role delete NAME [--json]\n"
    "\n"
    "create   a custom role of the tenant with the permissions given, among read,\n"
    "         capture, edit, delete, amend, submit, match, review, admin.\n"
    "list     the built-in roles (scanner, reviewer, tenant_admin) and the custom ones:\n"
    "         NAME KIND PERMISSIONS.\n"
    "update   replaces a custom role's permissions (every request reads them: the\n"
    "         change holds at once).\n"
    "delete   deletes a custom role no user has (else 409 role_in_use names them).\n"
    "         Built-in roles neither change nor go.\n";

static const char org_help[] =
    "Usage: imgarc org create ID --name NAME [--parent ID] [--json]\n"
    "       imgarc org list [--json]\n"
    "       imgarc org rename ID NAME [--json]\n"
    "       imgarc org move ID (PARENT | --top) [--json]\n"
    "       imgarc org delete ID [--json]\n"
    "\n"
    "The tenant's organisations, a tree; bills belong to one by their pool field org.\n"
    "\n"
    "create   organisation ID (1-64 characters of A-Z a-z 0-9 . _ -) named NAME\n"
    "         (unique among its siblings), under --parent ID or at the top.\n"
    "list     the tree, sorted by name, children indented under their parent:\n"
    "         NAME  (ID).\n"
    "rename   gives ID the name NAME.\n"
    "move     puts ID under PARENT, or at the top with --top; not under itself or one\n"
    "         of its descendants.\n"
    "delete   deletes ID: refused (409 org_in_use) while bills belong to it or\n"
    "         organisations sit under it; users' grants naming it and the schemes set\n"
    "         for it go with it ('imgarc audit' lists them).\n";

static const char client_help[] =
    "Usage: imgarc client create NAME [--json]\n"
    "       imgarc client list [--json]\n"
    "       imgarc client rotate CLIENT_ID [--json]\n"
    "       imgarc client delete CLIENT_ID [--json]\n"
    "\n"
    "Credentials of business systems (ERPs) of the tenant of --tenant (default: the\n"
    "operator's default tenant, a tenant admin's own); the operator token or a tenant\n"
    "admin's.\n"
    "create   prints client_id and client_secret; the secret is shown only this once.\n"
    "         The system trades them for access tokens with POST /api/v1/auth/token.\n"
    "list     CLIENT_ID CREATED NAME (never a secret).\n"
    "rotate   a new secret, shown once; the old one, the access tokens issued under it\n"
    "         and the user sessions logged in through it (vendor login.do) stop at once.\n"
    "delete   the client goes; its tokens and sessions stop at once.\n";

static const char cluster_help[] =
    "Usage: imgarc cluster [show] [--json]\n"
    "       imgarc cluster join HOST:PORT [--json]\n"
    "       imgarc cluster remove ID [--json]\n"
    "       imgarc cluster drain ID [--json]\n"
    "       imgarc cluster undrain ID [--json]\n"
    "       imgarc cluster blob HASH [--json]\n"
    "       imgarc cluster weight ID PCT [--json]\n"
    "\n"
    "Operator commands (the operator token) for the nodes of the cluster of --server.\n"
    "show     every member: ID HTTP RAFT ZONE ROLE (voter, standby, spare) LEADER (*)\n"
    "         HEALTH (ok, down, draining) APPLIED (raft index) STORAGE (active,\n"
    "         draining, out) BLOBS (blob copies stored) BYTES (their bytes) FREE (bytes\n"
    "         free on its data disk), then the under-replicated blob count.\n"
    "join     adds the node whose HTTP API is at HOST:PORT. That node must be running,\n"
    "         started with --join and the cluster's secret, and not a member yet (it asks\n"
    "         to join by itself, with back-off; this adds it at once, e.g. when its\n"
    "         --join address is down). It becomes a voter while the cluster has fewer\n"
    "         voters than --voters, else a standby.\n"
    "remove   removes member ID: it leaves the raft configuration and refuses requests;\n"
    "         it can come back only with an empty data dir (a new id). A voter removed\n"
    "         is replaced by promoting a standby, when there is one.\n"
    "drain    sets member ID's storage to draining: its blob copies are copied to the\n"
    "         nodes placement picks without it, and it keeps serving them until then.\n"
    "         It stays a raft member (drain before remove to keep every copy).\n"
    "undrain  sets member ID's storage back to active: it takes new copies again.\n"
    "blob     where the copies of blob HASH (64 hex digits, a file's \"blob\") are and\n"
    "         belong: size, refs (files that use it), replicas wanted, then one line per\n"
    "         node: NODE COPY (holds one) LIVE (the copy counts: its node is not out)\n"
    "         PLACEMENT (rank where placement wants the copies, 1 = best; - = not\n"
    "         wanted there) and a NOTE for a missing, extra or not-live copy.\n"
    "weight   placement weighs member ID by PCT percent (1-1000) of the capacity it\n"
    "         reports (100: its capacity, the default): 200 makes it take about twice\n"
    "         its share of new copies, 50 half; copies move to match (--json shows\n"
    "         each node's capacity_bytes, weight_pct, weight and placement_full).\n"
    "\n"
    "ID is a node id as 'imgarc cluster' lists it. An unknown or removed node: exit 1\n"
    "with 404 node_not_found; an unknown blob: exit 1 with 404 not_found.\n"
    "show exits 5 (after printing) while the cluster needs attention: no raft leader\n"
    "known, a member down or out, or under-replicated blobs; stderr says which. Run\n"
    "it from a monitor or a script as a check.\n";

static const char audit_help[] =
    "Usage: imgarc audit [--after N] [--limit N] [--format json|jsonl|csv] [--all] [--json]\n"
    "\n"
    "The tenant's admin audit log (tenants, licenses, clients, users, roles,\n"
    "organisations, grants, webhooks, delivery retries), oldest first; needs the\n"
    "admin permission.\n"
    "\n"
    "Flags:\n"
    "  --after N              only entries after raft index N (a page's next index)\n"
    "  --limit N              entries per page, 1-10000 (server default 1000)\n"
    "  --format F             json (default): a table INDEX TIME ACTION OPERATOR DETAIL;\n"
    "                         jsonl or csv: the server's bytes as they are, for export\n"
    "  --all                  follow the pages to the end (csv: one header line)\n"
    "  --json                 with --format json: the server's page; with --all, one\n"
    "                         JSON object per entry and line\n";

static const char datasources_help[] =
    "Usage: imgarc datasources add NAME --kind imgarc|vendor --url URL --source-tenant T\n"
    "                              --client-id ID [--user U] [--account-id A]\n"
    "                              [--list-path P] [--secret-file FILE] [--disabled]\n"
    "       imgarc datasources list [--json]\n"
    "       imgarc datasources show|enable|disable|delete|test NAME [--json]\n"
    "       imgarc datasources update NAME [field flags] [--secret-file FILE |\n"
    "                                  --secret-stdin] [--json]\n"
    "\n"
    "The systems the tenant migrates from (docs/migration.md): another imgarc cluster\n"
    "(kind imgarc: a business-system client of tenant T there) or a system speaking\n"
    "the incumbent's API (kind vendor: app id, tenant id, account id and the user\n"
    "login.do acts as). Needs the admin permission. The secret (client secret or\n"
    "appSecret) is the first line of --secret-file, or of stdin; never an argument,\n"
    "never shown.\n"
    "\n"
    "add      creates NAME (1-64 of A-Z a-z 0-9 . _ -).\n"
    "  --url URL              the source's base URL (http or https, no query)\n"
    "  --source-tenant T      imgarc: the tenant at the source; vendor: tenantid\n"
    "  --client-id ID         imgarc: client_id; vendor: appId (also --app-id)\n"
    "  --user U               vendor: the user login.do acts as (required)\n"
    "  --account-id A         vendor: accountId\n"
    "  --list-path P          vendor: where the listing call is (default\n"
    "                         /kapi/app/bds/queryBillList)\n"
    "  --disabled             created disabled\n"
    "list     every data source: NAME KIND ENABLED UPDATED URL.\n"
    "show     one data source (never its secret).\n"
    "update   changes the fields given; the secret only with --secret-file FILE or\n"
    "         --secret-stdin.\n"
    "enable, disable\n"
    "         a disabled data source takes no new batch.\n"
    "delete   deletes it; refused while a batch that is not done or failed uses it.\n"
    "test     logs in to the source and reads one page of its list: prints ok, or\n"
    "         the call that failed and what the source answered (exit 1).\n";

static const char webhook_help[] =
    "Usage: imgarc webhook create URL --events LIST [--secret S] [--json]\n"
    "       imgarc webhook list [--json]\n"
    "       imgarc webhook show ID [--json]\n"
    "       imgarc webhook delete ID [--json]\n"
    "\n"
    "The tenant's webhooks: URLs the node POSTs bill and license events to, signed\n"
    "with the webhook's secret (X-Imgarc-Signature); needs the admin permission.\n"
    "\n"
    "create   registers URL (http:// or https://) for the events of LIST, comma-\n"
    "         separated (--events may be repeated): pending_upload, captured,\n"
    "         submitted, ready, erp_submitted, erp_failed, returned, license_expiring,\n"
    "         license_expired, or * for all. Prints the id and the secret, which is\n"
    "         shown only this once.\n"
    "  --secret S             the signing secret, 16-256 characters (default: the node\n"
    "                         makes one); visible to other users in the process list\n"
    "list     every webhook: ID EVENTS CREATED URL.\n"
    "show     one webhook's id, url, events and creation time.\n"
    "delete   deletes the webhook; its pending deliveries are cancelled.\n";

static const char migrations_help[] =
    "Usage: imgarc migrations create BATCH_NO --datasource NAME [--org O]...\n"
    "                [--bill-type T]... [--from TIME] [--to TIME] [--key K] [--json]\n"
    "       imgarc migrations list [--json]\n"
    "       imgarc migrations show|start|pause|resume|retry|cancel BATCH_NO [--json]\n"
    "       imgarc migrations skip|unskip BATCH_NO IMAGE_NO... [--json]\n"
    "       imgarc migrations bills BATCH_NO [--state S] [--after IMAGE_NO] [--limit N]\n"
    "       imgarc migrations log BATCH_NO [--after SEQ] [--limit N] [--json]\n"
    "       imgarc migrations log BATCH_NO --format csv [-o FILE] [--after SEQ] [--limit N]\n"
    "\n"
    "The tenant's migration batches: bills moved in from another imaging system (a data\n"
    "source, see 'imgarc datasources'); needs the admin permission (the operator names\n"
    "the tenant with --tenant). docs/migration.md.\n"
    "\n"
    "create   a batch (state pending) moving the bills of a scope from data source NAME:\n"
    "  --org O, --bill-type T  only these organisations / bill types (repeatable; none:\n"
    "                         all)\n"
    "  --from TIME, --to TIME  bills created at or after / before: RFC 3339 or a date\n"
    "                         (UTC; a date in --to is the end of that day)\n"
    "  --key K                an Idempotency-Key: a retried create answers the first\n"
    "list     every batch: BATCH STATE PHASE DATASOURCE and its counts.\n"
    "show     one batch: its scope, state, counts and times.\n"
    "start    pending or paused -> running; pause: running -> paused; resume: paused\n"
    "         -> running; retry: failed bills back to pending, the batch running again;\n"
    "         cancel: the batch fails with \"cancelled by <you>\" (moved bills stay).\n"
    "skip     marks bills do-not-migrate (pending, checked or failed ones); unskip puts\n"
    "         skipped ones back to pending. At most 1000 image numbers.\n"
    "bills    a page of the batch's bills: IMAGE_NO STATE ATTEMPTS FILES BYTES REASON;\n"
    "         --state S (pending, checked, migrated, present, failed, skipped), --after\n"
    "         the page's last image number, --limit 1-1000 (100).\n"
    "log      the batch's log, oldest first: SEQ TIME OPERATOR ACTION IMAGE_NO DETAIL\n"
    "         (--limit 1-1000, 100); --format csv writes the whole log (or --limit\n"
    "         entries) as CSV to stdout or -o FILE, streamed.\n";

static const char sync_help[] =
    "Usage: imgarc sync settings [--json]\n"
    "       imgarc sync set --datasource NAME [--daily-at HH:MM] [--orgs A,B]\n"
    "                       [--protect F,G] [--disabled] [--json]\n"
    "       imgarc sync run [--org ORG] [--date YYYY-MM-DD | --full | --image-no N] [--json]\n"
    "       imgarc sync runs [--org ORG] [--limit N] [--after RUN_ID] [--json]\n"
    "       imgarc sync show RUN_ID [--json]\n"
    "       imgarc sync failures [--org ORG] [--state S] [--limit N] [--json]\n"
    "       imgarc sync retry [--org ORG] [--json]\n"
    "\n"
    "The invoice-data sync: the face data of invoices (number, code, date, amount,\n"
    "tax, total, tax numbers) taken from a data source, daily and by hand\n"
    "(docs/migration.md). Needs the admin permission.\n"
    "\n"
    "settings  the tenant's settings.\n"
    "set       replaces them: the data source, the daily run's UTC time (default\n"
    "          02:00; --disabled: no daily run), the organisations (none: one run for\n"
    "          all), the invoice fields a sync never overwrites (of number, code, date,\n"
    "          amount, tax, total, seller_tax_no, buyer_tax_no).\n"
    "run       runs by hand, one per organisation (--org, else each of the settings'):\n"
    "          the bills changed on --date (UTC; default today), every bill (--full),\n"
    "          or one bill (--image-no).\n"
    "runs      the sync list: RUN_ID ORG KIND DATE STATE RESULT OK FAIL SKIP ATTEMPTS\n"
    "          STARTED MESSAGE, in run-id order.\n"
    "show      one run.\n"
    "failures  records still failing, with why: retrying (the next runs try them\n"
    "          first) or given_up (after 3 attempts; --state picks one).\n"
    "retry     puts the given-up records of --org (default: every organisation) back.\n";

static const char deliveries_help[] =
    "Usage: imgarc deliveries [IMAGE_NO] [--state S] [--limit N] [--json]\n"
    "\n"
    "Webhook deliveries, by bill and then oldest first (tenant events, such as\n"
    "license_expiring, come first), one line each: ID EVENT WEBHOOK BILL STATE\n"
    "ATTEMPTS NEXT_ATTEMPT LAST (the last attempt's HTTP status, or its error).\n"
    "With IMAGE_NO only that bill's (needs the read permission), else the tenant's\n"
    "(needs the admin permission).\n"
    "\n"
    "Flags:\n"
    "  --state S              only pending, delivered, failed or cancelled ones\n"
    "  --limit N              at most N, 1-1000 (server default 100)\n"
    "  --json                 print the server's answer, every attempt and payload\n";

static const char delivery_help[] =
    "Usage: imgarc delivery retry ID [--json]\n"
    "\n"
    "Queues a delivery (failed, cancelled or delivered) for a new round of attempts,\n"
    "now; a pending one is left as it is. ID is a number from 'imgarc deliveries'.\n"
    "Needs the admin permission.\n";

static const char version_help[] =
    "Usage: imgarc version [--json]\n"
    "\n"
    "The client's version and commit, then the server's (GET /api/v1/version, which\n"
    "needs no token). 'imgarc --version' prints the client's alone.\n";

static const char help_help[] =
    "Usage: imgarc help [COMMAND]\n"
    "\n"
    "The list of commands, or a command's flags and output.\n";

static const struct command commands[] = {
    {"pool", cmd_pool, "pool push IMAGE_NO [flags]", "create or update the ERP's pool bill",
     pool_help},
    {"upload", cmd_upload, "upload IMAGE_NO FILE...", "upload files to a bill, in order",
     upload_help},
    {"submit", cmd_submit, "submit IMAGE_NO", "submit a captured bill", submit_help},
    {"status", cmd_status, "status IMAGE_NO", "is the bill ready, and if not, why",
     status_help},
    {"get", cmd_get, "get IMAGE_NO", "the bill and its ordered files", get_help},
    {"download", cmd_download, "download FILE_ID [-o PATH]", "a file's content",
     download_help},
    {"log", cmd_log, "log IMAGE_NO", "the bill's audit log", log_help},
    {"bills", cmd_bills, "bills [filters] [--all]", "list bills", bills_help},
    {"export", cmd_export, "export BILLS -o FILE.zip",
     "bills, files, logs and a manifest as a zip", export_help},
    {"export-verify", cmd_export_verify, "export-verify FILE.zip",
     "check an export against its manifest", export_verify_help},
    {"backup", cmd_backup, "backup DIR", "back up the whole cluster into a directory",
     backup_help},
    {"backup-verify", cmd_backup_verify, "backup-verify DIR",
     "check a backup's checksums and content", backup_verify_help},
    {"backup-prune", cmd_backup_prune, "backup-prune DIR --keep N",
     "remove older backups and the content only they use", backup_prune_help},
    {"restore", cmd_restore, "restore DIR --data DATA", "a new node's data dir from a backup",
     restore_help},
    {"categorize", cmd_categorize, "categorize IMAGE_NO FILE_ID...", "set the category of files",
     categorize_help},
    {"rotate", cmd_rotate, "rotate IMAGE_NO FILE_ID...", "rotate files by 90, -90 or 180 degrees",
     rotate_help},
    {"move", cmd_move, "move IMAGE_NO FILE_ID", "move a file after another, or first", move_help},
    {"delete-files", cmd_delete_files, "delete-files IMAGE_NO FILE_ID...",
     "delete files from a bill", delete_files_help},
    {"merge", cmd_merge, "merge IMAGE_NO FILE_ID...", "merge adjacent files into a document",
     merge_help},
    {"split", cmd_split, "split IMAGE_NO FILE_ID", "split a merged document again", split_help},
    {"invoice", cmd_invoice, "invoice set IMAGE_NO FILE_ID", "set an invoice file's data",
     invoice_help},
    {"match", cmd_match, "match ACTION IMAGE_NO", "run, show, set or undo invoice matching",
     match_help},
    {"erp-submit", cmd_erp_submit, "erp-submit IMAGE_NO", "send a ready bill to the ERP",
     erp_submit_help},
    {"return", cmd_return, "return IMAGE_NO --reason R", "send a bill back for rescanning",
     return_help},
    {"hold", cmd_hold, "hold place|lift|list IMAGE_NO", "legal holds: no file deleted or replaced",
     hold_help},
    {"retention", cmd_retention, "retention show | set [--bill-type T] --years N",
     "how long bills are kept before deletion", retention_help},
    {"delete-bill", cmd_delete_bill, "delete-bill IMAGE_NO [--reason R]",
     "delete a bill past its retention and without holds", delete_bill_help},
    {"bill-type", cmd_bill_type, "bill-type create CODE | list", "bill types and their mode",
     bill_type_help},
    {"scheme", cmd_scheme, "scheme set BILL_TYPE | list", "matching and ERP submission per type",
     scheme_help},
    {"category", cmd_category, "category create CODE | list", "custom attachment categories",
     category_help},
    {"tenant", cmd_tenant, "tenant create|list|delete", "create, list or delete tenants",
     tenant_help},
    {"license", cmd_license, "license ACTION [flags]",
     "keygen, sign, verify, install, show licenses", license_help},
    {"usage", cmd_usage, "usage", "the tenant's storage against its quota", usage_help},
    {"login", cmd_login, "login USERNAME", "log a user in; prints export IMGARC_TOKEN=...",
     login_help},
    {"user", cmd_user, "user ACTION [flags]",
     "create, edit, disable, delete users; grants",
     user_help},
    {"role", cmd_role, "role ACTION [flags]", "create, list, update, delete roles", role_help},
    {"org", cmd_org, "org ACTION [flags]", "create, list, rename, move, delete organisations",
     org_help},
    {"client", cmd_client, "client ACTION [flags]",
     "business-system credentials; rotate",
     client_help},
    {"audit", cmd_audit, "audit [--format F] [--all]", "the tenant's admin audit log",
     audit_help},
    {"webhook", cmd_webhook, "webhook ACTION [flags]", "create, list, show, delete webhooks",
     webhook_help},
    {"datasources", cmd_datasources, "datasources ACTION [flags]",
     "systems to migrate from: add, list, update, test", datasources_help},
    {"deliveries", cmd_deliveries, "deliveries [IMAGE_NO]", "webhook deliveries and their attempts",
     deliveries_help},
    {"delivery", cmd_delivery, "delivery retry ID", "send a webhook delivery again",
     delivery_help},
    {"migrations", cmd_migrations, "migrations ACTION [BATCH_NO] [flags]",
     "migration batches: create, start, pause, skip bills, read the log", migrations_help},
    {"sync", cmd_sync, "sync ACTION [flags]",
     "invoice-data sync: settings, runs, the sync list, failures", sync_help},
    {"cluster", cmd_cluster, "cluster [ACTION [ID|H:P|HASH]]",
     "the cluster's nodes: add, remove, drain, weigh; blob copies", cluster_help},
    {"version", cmd_version, "version", "client and server versions", version_help},
    {"help", cmd_help, "help [COMMAND]", "this text, or a command's", help_help},
};

const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

void print_overview(FILE *out)
{
    fputs("Usage: imgarc [--server URL] [--token T] [--tenant ID] COMMAND [ARGS]\n"
          "\n"
          "The command-line client of an imgarc archive node.\n"
          "\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        fprintf(out, "  %-33s %s\n", commands[i].synopsis, commands[i].summary);
    }
    fputs("\n"
          "Global flags (before the command):\n"
          "  --server URL   the node (default $IMGARC_SERVER, else " CLI_DEFAULT_SERVER ")\n"
          "  --token T      bearer token (default $IMGARC_TOKEN; prefer the variable, a\n"
          "                 flag is visible to other users in the process list)\n"
          "  --tenant ID    act for this tenant (operator tokens; default: \"default\")\n"
          "  --cacert FILE  https: the CAs (PEM) the node's certificate chains to\n"
          "                 (default $IMGARC_CACERT, else the system's trusted CAs)\n"
          "  --cert FILE    https with client certificates (mutual TLS): this client's\n"
          "  --key FILE     certificate and key (default $IMGARC_CERT, $IMGARC_KEY)\n"
          "\n"
          "Exit status:\n"
          "  0  success\n"
          "  1  the server answered an error (4xx/5xx); its message is printed; or\n"
          "     license verify found the document, export-verify the export, not valid\n"
          "  2  usage error: bad flags or arguments\n"
          "  3  cannot reach the server, or the transfer failed\n"
          "  4  local file error: cannot read an upload, a key or a license document,\n"
          "     write a download or a key\n"
          "  5  imgarc cluster: the cluster needs attention (no leader, a member down or\n"
          "     out, under-replicated blobs); stderr says what\n"
          "\n"
          "'imgarc COMMAND --help' shows a command's flags; docs/cli.md is the reference.\n",
          out);
}
