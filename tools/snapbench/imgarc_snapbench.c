/* imgarc-snapbench: how big and how slow a raft snapshot of the metadata is.
 *
 * Builds a real metadata store (RocksDB) by applying N AddFile commands through the
 * state machine, as a node would. Then, streamed (storage/snapshot.h's reader and
 * writer, in 1 MiB pieces through a file: what docs/snapshots.md moves between nodes),
 * and as one buffer (storage_snapshot_encode, what raft asks the FSM for today), it
 * takes a snapshot, restores it into a fresh store and compares the digests. The peak
 * RSS is printed after each step: the streamed steps come first, since the peak only
 * grows. Prints the figures; nothing here is a test. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "archive/archive.h"
#include "base/clock.h"
#include "base/mem.h"
#include "storage/rocks.h"
#include "storage/snapshot.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* The scratch directory this run made (removed at exit), or "" when given by --dir. */
static char scratch[4096];

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    if (remove(path) != 0) {
        fprintf(stderr, "imgarc-snapbench: remove %s: %s\n", path, strerror(errno));
    }
    return 0;
}

static void remove_scratch(void)
{
    if (scratch[0] != '\0') {
        nftw(scratch, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    }
}

static void die(const char *what, const struct base_err *err)
{
    fprintf(stderr, "imgarc-snapbench: %s: %s\n", what, err->msg);
    exit(1); /* remove_scratch runs at exit */
}

static void apply(struct archive *a, uint64_t index, const Command *cmd)
{
    struct archive_result res;
    struct base_err err = {{0}};
    void *buf;
    size_t len;
    archive_encode(cmd, &buf, &len);
    if (archive_apply(a, index, buf, len, &res, &err) != 0) {
        die("apply", &err);
    }
    if (res.status != ARCHIVE_OK) {
        fprintf(stderr, "imgarc-snapbench: entry %llu refused: %s\n",
                (unsigned long long)index, res.message);
        exit(1);
    }
    free(buf);
}

static void init_cluster(struct archive *a)
{
    Command cmd = COMMAND__INIT;
    InitCluster ic = INIT_CLUSTER__INIT;
    uint8_t key[32];
    randombytes_buf(key, sizeof key);
    ic.token_key.data = key;
    ic.token_key.len = sizeof key;
    ic.level = ARCHIVE_FEATURE_LEVEL;
    cmd.tenant = ARCHIVE_DEFAULT_TENANT;
    cmd.request_id = "snapbench";
    cmd.operator_ = "snapbench";
    cmd.time_ms = clock_wall_ms();
    cmd.body_case = COMMAND__BODY_INIT_CLUSTER;
    cmd.init_cluster = &ic;
    apply(a, 1, &cmd);
}

/* The packed AddFile command of file @i (@per_bill files per bill, @size bytes each). */
/* --holder: the node seeded blob records name as their holder (0: none). */
static uint64_t seed_holder;

static void pack_add_file(unsigned long i, unsigned per_bill, uint64_t size, uint64_t time_ms,
                          void **buf, size_t *len)
{
    Command cmd = COMMAND__INIT;
    AddFile f = ADD_FILE__INIT;
    char image_no[32], file_id[40], name[32];
    uint8_t blob[32];
    snprintf(image_no, sizeof image_no, "SB-%08lu", i / per_bill);
    snprintf(file_id, sizeof file_id, "f%031lx", i);
    snprintf(name, sizeof name, "scan-%lu.pdf", i);
    crypto_generichash(blob, sizeof blob, (const uint8_t *)file_id, strlen(file_id), NULL, 0);
    f.image_no = image_no;
    f.file_id = file_id;
    f.name = name;
    f.format = "pdf";
    f.size = size;
    f.pages = 2;
    f.category = i % per_bill == 0 ? "cover" : "attachment";
    f.blob.data = blob;
    f.blob.len = sizeof blob;
    f.check = i;
    if (seed_holder != 0) {
        f.holders = &seed_holder;
        f.n_holders = 1;
    }
    cmd.tenant = ARCHIVE_DEFAULT_TENANT;
    cmd.request_id = "snapbench";
    cmd.operator_ = "scanner-1";
    cmd.time_ms = time_ms;
    cmd.body_case = COMMAND__BODY_ADD_FILE;
    cmd.add_file = &f;
    archive_encode(&cmd, buf, len);
}

static void add_file(struct archive *a, uint64_t index, unsigned long i, unsigned per_bill)
{
    struct archive_result res;
    struct base_err err = {{0}};
    void *buf;
    size_t len;
    /* 1M files of 4 KiB fit the evaluation quota of the default tenant */
    pack_add_file(i, per_bill, 4096, clock_wall_ms(), &buf, &len);
    if (archive_apply(a, index, buf, len, &res, &err) != 0) {
        die("apply", &err);
    }
    if (res.status != ARCHIVE_OK) {
        fprintf(stderr, "imgarc-snapbench: entry %llu refused: %s\n",
                (unsigned long long)index, res.message);
        exit(1);
    }
    free(buf);
}

#define PIECE (1u << 20)

/* The store as a stream into the file @path, 1 MiB at a time; returns its size. */
static uint64_t stream_out(struct rocks *db, uint64_t index, const char *path)
{
    struct snapshot_reader *r = storage_snapshot_reader_new(db, index);
    struct base_err err = {{0}};
    uint8_t *piece = malloc(PIECE);
    uint64_t total = 0;
    size_t n;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || piece == NULL) {
        fprintf(stderr, "imgarc-snapbench: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    do {
        if (storage_snapshot_read(r, piece, PIECE, &n, &err) != 0) {
            die("stream out", &err);
        }
        if (n > 0 && write(fd, piece, n) != (ssize_t)n) {
            fprintf(stderr, "imgarc-snapbench: write %s: %s\n", path, strerror(errno));
            exit(1);
        }
        total += n;
    } while (n > 0);
    close(fd);
    free(piece);
    storage_snapshot_reader_free(r);
    return total;
}

/* The file @path written into @db as a stream, 1 MiB at a time. */
static void stream_in(struct rocks *db, const char *path)
{
    struct snapshot_writer *w = storage_snapshot_writer_new(db);
    struct base_err err = {{0}};
    uint8_t *piece = malloc(PIECE);
    uint64_t index;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || piece == NULL) {
        fprintf(stderr, "imgarc-snapbench: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    while ((n = read(fd, piece, PIECE)) > 0) {
        if (storage_snapshot_write(w, piece, (size_t)n, &err) != 0) {
            die("stream in", &err);
        }
    }
    if (n < 0 || storage_snapshot_writer_finish(w, &index, &err) != 0) {
        die("stream in", &err);
    }
    close(fd);
    free(piece);
    storage_snapshot_writer_free(w);
}

/* --seed-store: @records file records added to the metadata store of a stopped node
 * at @dir (its DATA/meta), without moving the store's applied index. Every write batch
 * is applied as raft entry A, the index the store has applied already (the in-memory
 * index is set back to A - 1 before each batch, the only thing that tells apply an
 * entry is new), so the store ends at A, as raft's log on that node expects, and every
 * record claims index A, which is in the past of every entry raft will apply later:
 * nothing keyed or ordered by index (admin audit, webhook deliveries; AddFile writes
 * neither) can collide with a later entry. The commands are real AddFiles, applied by
 * the state machine: bills, file orders, blob records, usage counters and the bill
 * audit are what as many captures would have written. The blobs are recorded with no
 * holders (what a capture before holders were recorded left): no node is asked to copy
 * or drop a copy of content it does not have; the keeper counts them as lost. With
 * --holder, they name that node instead (a store whose blobs are settled, R=1). */
static int seed_store(const char *dir, unsigned long records, unsigned per_bill,
                      unsigned per_entry, uint64_t size, uint64_t time_ms)
{
    struct rocks *db;
    struct archive a = {0};
    struct base_err err = {{0}};
    struct archive_packed *cmds = xcalloc(per_entry, sizeof *cmds);
    struct archive_result *res = xcalloc(per_entry, sizeof *res);
    char current[4200];
    uint64_t at;
    double t0 = now_s(), t_last = t0;
    unsigned long done = 0, next_report = 1000000;

    snprintf(current, sizeof current, "%s/CURRENT", dir);
    if (access(current, F_OK) != 0) {
        fprintf(stderr, "imgarc-snapbench: %s is not a metadata store (no CURRENT); give a "
                "node's DATA/meta\n", dir);
        return 1;
    }
    if (archive_store_open(&db, dir, &err) != 0 || archive_open(&a, db, &err) != 0) {
        die("open", &err);
    }
    at = a.applied_index;
    if (at == 0) {
        fprintf(stderr, "imgarc-snapbench: %s has applied no raft entry: start the node once "
                "so that it initialises its cluster, stop it, then seed\n", dir);
        rocks_close(db);
        return 1;
    }
    printf("seeding %lu file records (%u per bill, %u per write batch, %llu bytes each) into "
           "%s at applied index %llu ...\n", records, per_bill, per_entry,
           (unsigned long long)size, dir, (unsigned long long)at);
    fflush(stdout);
    while (done < records) {
        size_t n = records - done < per_entry ? (size_t)(records - done) : per_entry;
        for (size_t i = 0; i < n; i++) {
            void *buf;
            pack_add_file(done + i, per_bill, size, time_ms, &buf, &cmds[i].len);
            cmds[i].buf = buf;
        }
        a.applied_index = at - 1;
        if (archive_apply_entry(&a, at, cmds, n, res, &err) != 0) {
            die("apply", &err);
        }
        for (size_t i = 0; i < n; i++) {
            if (res[i].status != ARCHIVE_OK) {
                fprintf(stderr, "imgarc-snapbench: file record %lu refused: %s (seeded "
                        "twice? seed a store once)\n", done + i, res[i].message);
                exit(1);
            }
            free((void *)cmds[i].buf);
        }
        done += n;
        if (done >= next_report || done == records) {
            double t = now_s();
            printf("  %lu records, %.0f s, %.0f records/s lately\n", done, t - t0,
                   (double)(done - (next_report - 1000000)) / (t - t_last));
            fflush(stdout);
            t_last = t;
            next_report += 1000000;
        }
    }
    if (a.applied_index != at) {
        fprintf(stderr, "imgarc-snapbench: the applied index moved to %llu\n",
                (unsigned long long)a.applied_index);
        return 1;
    }
    rocks_close(db);
    if (archive_store_open(&db, dir, &err) != 0 || archive_open(&a, db, &err) != 0) {
        die("reopen", &err);
    }
    printf("seeded %lu file records (%lu bills) in %.1f s; applied index %llu (was %llu)\n",
           records, (records + per_bill - 1) / per_bill, now_s() - t0,
           (unsigned long long)a.applied_index, (unsigned long long)at);
    rocks_close(db);
    free(cmds);
    free(res);
    return a.applied_index == at ? 0 : 1;
}

/* --digest-store: the applied index and digest of the (stopped) store at @dir. */
static int digest_store(const char *dir)
{
    struct rocks *db;
    struct archive a = {0};
    struct base_err err = {{0}};
    uint8_t d[32];
    char current[4200];
    snprintf(current, sizeof current, "%s/CURRENT", dir);
    if (sodium_init() < 0 || access(current, F_OK) != 0) {
        fprintf(stderr, "imgarc-snapbench: %s is not a metadata store (no CURRENT)\n", dir);
        return 1;
    }
    if (archive_store_open(&db, dir, &err) != 0 || archive_open(&a, db, &err) != 0 ||
        storage_digest(db, d, &err) != 0) {
        die("digest", &err);
    }
    printf("applied_index %llu digest ", (unsigned long long)a.applied_index);
    for (size_t i = 0; i < sizeof d; i++) {
        printf("%02x", d[i]);
    }
    printf("\n");
    rocks_close(db);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: imgarc-snapbench [--files N] [--files-per-bill N] [--dir DIR]\n"
                    "  Applies N AddFile commands (default 1000000, 20 per bill) to a fresh\n"
                    "  store under DIR (default a new directory in $TMPDIR or /tmp, removed\n"
                    "  after, also when the run fails);\n"
                    "  then snapshots, restores and compares, streamed then as one buffer.\n"
                    "       imgarc-snapbench --seed-store DATA/meta --records N\n"
                    "                        [--files-per-bill N] [--per-batch N] [--size B]\n"
                    "                        [--time-ms T] [--holder ID]\n"
                    "  Adds N file records (default 20 per bill, 1024 per write batch, 1000\n"
                    "  bytes each: 10M fit the evaluation quota) to the metadata store of a\n"
                    "  STOPPED node that has initialised its cluster, keeping its applied\n"
                    "  index (bench/join_scale.py uses it). Once per store. The records'\n"
                    "  capture time is T (default now): seeding every node of a stopped\n"
                    "  cluster (all at the same applied index) with the same T gives\n"
                    "  identical stores. --holder: the blobs' records name node ID (decimal)\n"
                    "  as their holder instead of none (bench/keeper_scale.py).\n"
                    "       imgarc-snapbench --digest-store DATA/meta\n"
                    "  Prints the applied index and digest of a stopped node's store.\n");
    exit(2);
}

int main(int argc, char **argv)
{
    unsigned long files = 1000000;
    unsigned per_bill = 20;
    char dir[4096] = "";
    const char *seed = NULL;
    unsigned long records = 0;
    unsigned per_batch = 1024;
    uint64_t size = 1000;
    uint64_t time_ms = 0;
    char src_dir[4200], dst_dir[4200];
    struct rocks *db, *db2;
    struct archive a = {0};
    struct base_err err = {{0}};
    uint8_t d1[32], d2[32];
    void *snap;
    size_t len;
    double t0, t_apply, t_encode, t_restore;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--files") == 0 && i + 1 < argc) {
            files = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--files-per-bill") == 0 && i + 1 < argc) {
            per_bill = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--seed-store") == 0 && i + 1 < argc) {
            seed = argv[++i];
        } else if (strcmp(argv[i], "--digest-store") == 0 && i + 1 < argc) {
            return digest_store(argv[++i]);
        } else if (strcmp(argv[i], "--records") == 0 && i + 1 < argc) {
            records = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--per-batch") == 0 && i + 1 < argc) {
            per_batch = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--time-ms") == 0 && i + 1 < argc) {
            time_ms = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--holder") == 0 && i + 1 < argc) {
            seed_holder = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
            size = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            snprintf(dir, sizeof dir, "%s", argv[++i]);
        } else {
            usage();
        }
    }
    if (files == 0 || per_bill == 0 || sodium_init() < 0) {
        usage();
    }
    if (seed != NULL) {
        if (records == 0 || per_batch == 0) {
            usage();
        }
        return seed_store(seed, records, per_bill, per_batch, size,
                          time_ms != 0 ? time_ms : clock_wall_ms());
    }
    if (dir[0] == '\0') {
        const char *tmp = getenv("TMPDIR");
        int n = snprintf(dir, sizeof dir, "%s/imgarc-snapbench-XXXXXX",
                         tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
        if (n < 0 || (size_t)n >= sizeof dir) {
            fprintf(stderr, "imgarc-snapbench: TMPDIR is too long; give --dir\n");
            return 1;
        }
        if (mkdtemp(dir) == NULL) {
            fprintf(stderr, "imgarc-snapbench: mkdtemp %s: %s\n", dir, strerror(errno));
            return 1;
        }
        snprintf(scratch, sizeof scratch, "%s", dir);
        atexit(remove_scratch);
    }
    snprintf(src_dir, sizeof src_dir, "%s/source", dir);
    snprintf(dst_dir, sizeof dst_dir, "%s/restored", dir);
    if (archive_store_open(&db, src_dir, &err) != 0 || archive_open(&a, db, &err) != 0) {
        die("open", &err);
    }
    init_cluster(&a);
    printf("applying %lu AddFile commands (%u per bill) to %s ...\n", files, per_bill, src_dir);
    fflush(stdout);
    t0 = now_s();
    for (unsigned long i = 0; i < files; i++) {
        add_file(&a, i + 2, i, per_bill);
    }
    t_apply = now_s() - t0;

    {
        char file[4300], streamed_dir[4200];
        struct rocks *db3;
        uint64_t bytes;
        double t_out, t_in, rss_apply = peak_rss_mib(), rss_out, rss_in;
        snprintf(file, sizeof file, "%s/snapshot.stream", dir);
        snprintf(streamed_dir, sizeof streamed_dir, "%s/streamed", dir);
        t0 = now_s();
        bytes = stream_out(db, a.applied_index, file);
        t_out = now_s() - t0;
        rss_out = peak_rss_mib();
        if (archive_store_open(&db3, streamed_dir, &err) != 0) {
            die("open streamed", &err);
        }
        t0 = now_s();
        stream_in(db3, file);
        t_in = now_s() - t0;
        rss_in = peak_rss_mib();
        if (storage_digest(db, d1, &err) != 0 || storage_digest(db3, d2, &err) != 0) {
            die("digest streamed", &err);
        }
        rocks_close(db3);
        printf("peak RSS after apply  %.0f MiB\n", rss_apply);
        printf("streamed out          %.1f MiB to a file in %.2f s; peak RSS %.0f MiB\n",
               (double)bytes / (1024.0 * 1024.0), t_out, rss_out);
        printf("streamed in           %.2f s into a fresh store; peak RSS %.0f MiB; "
               "digests %s\n", t_in, rss_in, memcmp(d1, d2, 32) == 0 ? "equal" : "DIFFER");
        fflush(stdout);
        if (memcmp(d1, d2, 32) != 0) {
            return 1;
        }
    }

    t0 = now_s();
    if (storage_snapshot_encode(db, a.applied_index, &snap, &len, &err) != 0) {
        die("snapshot", &err);
    }
    t_encode = now_s() - t0;
    if (storage_digest(db, d1, &err) != 0) {
        die("digest", &err);
    }

    if (archive_store_open(&db2, dst_dir, &err) != 0) {
        die("open restored", &err);
    }
    t0 = now_s();
    if (storage_snapshot_restore(db2, snap, len, &err) != 0) {
        die("restore", &err);
    }
    t_restore = now_s() - t0;
    if (storage_digest(db2, d2, &err) != 0) {
        die("digest restored", &err);
    }
    free(snap);

    printf("file records          %lu (bills %lu)\n", files, (files + per_bill - 1) / per_bill);
    printf("apply                 %.1f s (%.0f commands/s, one RocksDB batch each)\n",
           t_apply, (double)files / t_apply);
    printf("snapshot              %.1f MiB, encoded in %.2f s (%.0f bytes per file)\n",
           (double)len / (1024.0 * 1024.0), t_encode, (double)len / (double)files);
    printf("restore               %.2f s into a fresh store\n", t_restore);
    printf("digests               %s\n", memcmp(d1, d2, 32) == 0 ? "equal" : "DIFFER");
    printf("peak RSS              %.0f MiB (the snapshot is one buffer in memory)\n",
           peak_rss_mib());
    rocks_close(db);
    rocks_close(db2);
    return memcmp(d1, d2, 32) == 0 ? 0 : 1;
}
