#define _XOPEN_SOURCE 700
#include "tests/fuzz/fuzz_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "archive/blobs.h"
#include "archive/collect.h"
#include "archive/keys.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

static char tmpdir[PATH_MAX];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void tmpdir_remove(void)
{
    if (tmpdir[0] != '\0') {
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

/* libFuzzer often ends a process without running atexit handlers (-max_total_time,
 * a crash): a scratch directory whose process is gone is removed by the next one. */
static void sweep_stale(const char *root)
{
    DIR *d = opendir(root);
    struct dirent *e;
    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char path[PATH_MAX];
        long pid;
        if (sscanf(e->d_name, "imgarc-fuzz-%ld-", &pid) != 1 || pid <= 0 ||
            kill((pid_t)pid, 0) == 0 || errno != ESRCH) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", root, e->d_name);
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    closedir(d);
}

const char *fuzz_tmpdir(void)
{
    if (tmpdir[0] == '\0') {
        /* RocksDB syncs its WAL on every command: on tmpfs that costs nothing, and the
         * fuzzers run at the speed of the code, not of the disk. */
        const char *root = getenv("IMGARC_FUZZ_TMP");
        if (root == NULL || root[0] == '\0') {
            root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        }
        sweep_stale(root);
        snprintf(tmpdir, sizeof tmpdir, "%s/imgarc-fuzz-%ld-XXXXXX", root, (long)getpid());
        if (mkdtemp(tmpdir) == NULL) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(tmpdir_remove);
    }
    return tmpdir;
}

struct rocks *fuzz_store_open(const char *name)
{
    char dir[PATH_MAX + 64];
    struct rocks *db;
    struct base_err err = {{0}};
    snprintf(dir, sizeof dir, "%s/%s", fuzz_tmpdir(), name);
    if (archive_store_open(&db, dir, &err) != 0) {
        fprintf(stderr, "fuzz: store %s: %s\n", dir, err.msg);
        abort();
    }
    return db;
}

void fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t done = 0;
    if (fd < 0) {
        abort(); /* the harness, not the code under test */
    }
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) {
            abort();
        }
        done += (size_t)n;
    }
    close(fd);
}

void fuzz_init(void)
{
    const char *level = getenv("IMGARC_FUZZ_LOG");
    log_set_level(level != NULL && log_level_parse(level) >= 0
                      ? (enum log_level)log_level_parse(level)
                      : LOG_LEVEL_ERROR);
    if (sodium_init() < 0) {
        abort();
    }
}

static int quiet_saved = -1;

void fuzz_quiet_begin(void)
{
    static int devnull = -1;
    const char *v = getenv("IMGARC_FUZZ_VERBOSE");
    if (v != NULL && strcmp(v, "1") == 0) {
        return;
    }
    if (devnull < 0 && (devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0) {
        abort();
    }
    fflush(stderr);
    quiet_saved = dup(2);
    dup2(devnull, 2);
}

void fuzz_quiet_end(void)
{
    if (quiet_saved < 0) {
        return;
    }
    fflush(stderr);
    dup2(quiet_saved, 2);
    close(quiet_saved);
    quiet_saved = -1;
}

uint8_t fuzz_u8(struct fuzz_in *in)
{
    uint8_t v = 0;
    if (in->len > 0) {
        v = in->p[0];
        in->p++;
        in->len--;
    }
    return v;
}

uint32_t fuzz_u32(struct fuzz_in *in)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        v = v << 8 | fuzz_u8(in);
    }
    return v;
}

uint64_t fuzz_u64(struct fuzz_in *in)
{
    return (uint64_t)fuzz_u32(in) << 32 | fuzz_u32(in);
}

char *fuzz_str(struct fuzz_in *in, size_t max)
{
    size_t n = fuzz_u8(in) % (max + 1);
    char *s;
    if (n > in->len) {
        n = in->len;
    }
    s = xmalloc(n + 1);
    memcpy(s, in->p, n);
    s[n] = '\0';
    in->p += n;
    in->len -= n;
    return s;
}

const char *fuzz_pick(struct fuzz_in *in, const char *const *vocab, size_t n)
{
    return vocab[fuzz_u8(in) % n];
}

void fuzz_license_key(uint8_t pk[32], uint8_t sk[64])
{
    uint8_t seed[crypto_sign_SEEDBYTES] = {1, 2, 3, 4, 5, 6, 7, 8};
    crypto_sign_seed_keypair(pk, sk, seed);
}

/* ---- Consistency of an archive ---- */

static void inconsistent(const char *image_no, const char *what)
{
    fprintf(stderr, "bill %s is inconsistent: %s\n", image_no, what);
    abort();
}

/* What every bill must satisfy whatever was applied: its order lists each file once,
 * every listed file is a file of this bill, and the bill's counters match them. */
static void check_bill(struct archive *a, const char *tenant, const char *image_no)
{
    struct base_err err = {{0}};
    BillRecord *bill;
    BillOrder *order;
    uint32_t covers = 0, invoices = 0, attachments = 0;
    if (archive_get_bill(a, tenant, image_no, &bill, &err) != 0) {
        return;
    }
    ASSERT(archive_get_order(a, tenant, image_no, &order, &err) == 0);
    if (bill->fbill_id[0] != '\0') {
        /* The ERP's bill id leads back to this bill and no other. */
        char found[ARCHIVE_IMAGE_NO_MAX + 1];
        if (archive_find_bill_by_fbill_id(a, tenant, bill->fbill_id, found, &err) != 0 ||
            strcmp(found, image_no) != 0) {
            inconsistent(image_no, "its fbill_id does not lead back to it in the index");
        }
    }
    if (bill->files != order->n_file_ids) {
        inconsistent(image_no, "its file counter differs from its file order");
    }
    for (size_t i = 0; i < order->n_file_ids; i++) {
        FileRecord *f;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(order->file_ids[i], order->file_ids[j]) == 0) {
                inconsistent(image_no, "its file order lists a file twice");
            }
        }
        if (archive_get_file(a, tenant, order->file_ids[i], &f, &err) != 0) {
            inconsistent(image_no, "its file order lists a file that does not exist");
        }
        if (strcmp(f->image_no, image_no) != 0) {
            inconsistent(image_no, "its file order lists a file of another bill");
        }
        if (strcmp(f->category, "cover") == 0) {
            covers++;
        } else if (strcmp(f->category, "invoice") == 0) {
            invoices++;
        } else {
            attachments++;
        }
        archive_free_file(f);
    }
    if (covers != bill->covers || invoices != bill->invoice_files ||
        attachments != bill->attachments) {
        inconsistent(image_no, "its per-category counters differ from its files");
    }
    archive_free_order(order);
    archive_free_bill(bill);
}

struct bill_sums {
    uint64_t bills, files, bytes;
    char (*images)[ARCHIVE_IMAGE_NO_MAX + 1];
    size_t n;
};

static void sum_bill(const BillRecord *bill, void *arg)
{
    struct bill_sums *s = arg;
    s->bills++;
    s->files += bill->files;
    s->bytes += bill->bytes;
    s->images = xrealloc(s->images, (s->n + 1) * sizeof *s->images);
    snprintf(s->images[s->n++], sizeof *s->images, "%s", bill->image_no);
}

/* Files collected for @tenant that joined no bill yet count in its usage too. */
struct waiting_sums {
    const char *tenant;
    uint64_t files, bytes;
};

static bool sum_waiting(const char *tenant, const CollectedRecord *rec, void *arg)
{
    struct waiting_sums *w = arg;
    if (strcmp(tenant, w->tenant) == 0 && rec->image_no[0] == '\0') {
        w->files++;
        w->bytes += rec->size;
    }
    return true;
}

/* The blob index against the records: every record once under its class, every
 * holder's walk listing exactly the records that list it, and no holder id but those
 * the records list (archive/blob_index.c). */
#define INDEX_CHECK_MAX 4096
struct index_check {
    uint64_t holders[64];
    size_t n_per_holder[64];
    size_t n_holders;
    size_t per_class[256];
    size_t n;
    bool overflow;
};

static bool index_count_record(const uint8_t hash[32], const BlobRecord *rec, void *arg)
{
    struct index_check *c = arg;
    (void)hash;
    c->n++;
    c->per_class[archive_blob_class(rec) & 0xFF]++;
    for (size_t i = 0; i < rec->n_holders; i++) {
        size_t j = 0;
        while (j < c->n_holders && c->holders[j] != rec->holders[i]) {
            j++;
        }
        if (j == c->n_holders) {
            if (j == 64) {
                c->overflow = true;
                continue;
            }
            c->holders[c->n_holders++] = rec->holders[i];
        }
        c->n_per_holder[j]++;
    }
    return c->n < INDEX_CHECK_MAX;
}

static bool index_count(const uint8_t hash[32], const BlobRecord *rec, void *arg)
{
    (void)hash;
    (void)rec;
    (*(size_t *)arg)++;
    return true;
}

static void check_blob_index(struct archive *a)
{
    struct index_check c = {0};
    struct base_err err = {{0}};
    uint64_t ids[65];
    size_t n_ids, n;
    ASSERT(archive_each_blob(a, index_count_record, &c, &err) == 0);
    if (c.overflow || c.n >= INDEX_CHECK_MAX) {
        return;
    }
    for (unsigned r = 0; r <= 3; r++) {
        n = 0;
        ASSERT(archive_each_blob_unsettled(a, r, true, index_count, &n, &err) == 0);
        if (n != c.n - c.per_class[r]) {
            fprintf(stderr, "blob index: %zu records of a class other than %u, %zu by the "
                    "records\n", n, r, c.n - c.per_class[r]);
            abort();
        }
    }
    ASSERT(archive_blob_holder_ids(a, ids, 65, &n_ids, &err) == 0);
    if (n_ids != c.n_holders) {
        fprintf(stderr, "blob index: %zu holders, the records list %zu\n", n_ids,
                c.n_holders);
        abort();
    }
    for (size_t i = 0; i < c.n_holders; i++) {
        n = 0;
        ASSERT(archive_each_blob_held(a, c.holders[i], index_count, &n, &err) == 0);
        if (n != c.n_per_holder[i]) {
            fprintf(stderr, "blob index: holder %llu has %zu blobs, the records say %zu\n",
                    (unsigned long long)c.holders[i], n, c.n_per_holder[i]);
            abort();
        }
    }
}

/* Whether @tenant has a bill @image_no (@len bytes, not NUL-terminated). */
static bool bill_exists(struct archive *a, const char *tenant, const char *image_no, size_t len)
{
    struct base_err err = {{0}};
    char no[ARCHIVE_IMAGE_NO_MAX + 1];
    BillRecord *bill;
    if (len == 0 || len > ARCHIVE_IMAGE_NO_MAX) {
        return false;
    }
    memcpy(no, image_no, len);
    no[len] = '\0';
    if (archive_get_bill(a, tenant, no, &bill, &err) != 0) {
        return false;
    }
    archive_free_bill(bill);
    return true;
}

/* What a deleted bill must not leave behind (docs/retention.md): every file record, file
 * order, audit entry and ERP id of @tenant belongs to a bill that exists. */
static void check_no_orphans(struct archive *a, const char *tenant)
{
    static const enum archive_cf by_bill[] = {ARCHIVE_CF_ORDER, ARCHIVE_CF_AUDIT};
    struct base_err err = {{0}};
    struct rocks_iter *it;
    struct key prefix;
    key_tenant_prefix(&prefix, tenant);
    it = rocks_iter_new(a->db, ARCHIVE_CF_FILES, prefix.buf, prefix.len);
    for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t vlen;
        const char *v = rocks_iter_value(it, &vlen);
        FileRecord *f = file_record__unpack(NULL, vlen, (const uint8_t *)v);
        ASSERT(f != NULL);
        if (!bill_exists(a, tenant, f->image_no, strlen(f->image_no))) {
            inconsistent(f->image_no, "a file record names it, and it does not exist");
        }
        file_record__free_unpacked(f, NULL);
    }
    ASSERT(rocks_iter_status(it, &err) == 0);
    rocks_iter_free(it);
    for (size_t i = 0; i < ARRAY_SIZE(by_bill); i++) {
        it = rocks_iter_new(a->db, by_bill[i], prefix.buf, prefix.len);
        for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
            size_t klen;
            const char *k = rocks_iter_key(it, &klen);
            const char *no = k + prefix.len;
            const char *end = memchr(no, '\0', klen - prefix.len);
            size_t len = end != NULL ? (size_t)(end - no) : klen - prefix.len;
            if (!bill_exists(a, tenant, no, len)) {
                fprintf(stderr, "a %s record names bill %.*s of %s, which does not exist\n",
                        archive_cf_name(by_bill[i]), (int)len, no, tenant);
                abort();
            }
        }
        ASSERT(rocks_iter_status(it, &err) == 0);
        rocks_iter_free(it);
    }
    it = rocks_iter_new(a->db, ARCHIVE_CF_FBILL_IDS, prefix.buf, prefix.len);
    for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t vlen;
        const char *v = rocks_iter_value(it, &vlen);
        if (!bill_exists(a, tenant, v, vlen)) {
            fprintf(stderr, "an ERP bill id of %s leads to bill %.*s, which does not exist\n",
                    tenant, (int)vlen, v);
            abort();
        }
    }
    ASSERT(rocks_iter_status(it, &err) == 0);
    rocks_iter_free(it);
}

void fuzz_check_archive(struct archive *a, const char *tenant)
{
    struct waiting_sums w = {.tenant = tenant};
    struct base_err err = {{0}};
    struct archive_bill_filter filter = {.limit = 100000};
    struct bill_sums s = {0};
    struct archive_bill_page page;
    UsageRecord *u;
    check_blob_index(a);
    check_no_orphans(a, tenant);
    ASSERT(archive_list_bills(a, tenant, &filter, sum_bill, &s, &page, &err) == 0);
    for (size_t i = 0; i < s.n; i++) {
        check_bill(a, tenant, s.images[i]);
    }
    free(s.images);
    ASSERT(archive_each_collected_before(a, UINT64_MAX, sum_waiting, &w, &err) == 0);
    s.files += w.files;
    s.bytes += w.bytes;
    if (archive_get_usage(a, tenant, &u, &err) != 0) {
        if (s.bills != 0 || w.files != 0) {
            fprintf(stderr, "tenant %s has %llu bills and no usage record\n", tenant,
                    (unsigned long long)s.bills);
            abort();
        }
        return;
    }
    if (u->bills != s.bills || u->files != s.files || u->bytes != s.bytes) {
        fprintf(stderr, "tenant %s counts %llu bills, %llu files, %llu bytes; its bills hold "
                "%llu, %llu, %llu (with files collected for no bill yet)\n", tenant,
                (unsigned long long)u->bills,
                (unsigned long long)u->files, (unsigned long long)u->bytes,
                (unsigned long long)s.bills, (unsigned long long)s.files,
                (unsigned long long)s.bytes);
        abort();
    }
    archive_free_usage(u);
}
