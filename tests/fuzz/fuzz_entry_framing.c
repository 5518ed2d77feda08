/* Fuzz target: raft entry framing (replication/entry.c).
 *
 * Any bytes may reach repl_entry_command() as a raft entry (a log read back from disk,
 * an entry from a peer): the command it finds must lie inside the buffer. When the
 * framed command decodes, framing it again must give the same command bytes back. The
 * same for entries of several commands (repl_entry_commands()): every command lies
 * inside the buffer, and a shared entry framed again from its commands is the same
 * bytes. A snapshot descriptor ("IMGSNAP2", repl_descriptor_parse()) read from the
 * same bytes is either refused or encodes back to exactly them. */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "replication/entry.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so reading a byte past the entry is caught. */
    struct raft_buffer buf = {.base = xmalloc(size > 0 ? size : 1), .len = size};
    size_t len;
    const uint8_t *command;
    Command *cmd;
    memcpy(buf.base, data, size);
    command = repl_entry_command(&buf, &len);
    ASSERT(len == 0 || (command >= (const uint8_t *)buf.base &&
                        command + len <= (const uint8_t *)buf.base + buf.len));
    cmd = command__unpack(NULL, len, command);
    if (cmd != NULL) {
        struct raft_buffer again;
        size_t len2;
        const uint8_t *command2;
        uint8_t *packed = xmalloc(command__get_packed_size(cmd) + 1);
        size_t n = command__pack(cmd, packed);
        repl_entry_frame(cmd, &again);
        ASSERT(again.len % 8 == 0);
        command2 = repl_entry_command(&again, &len2);
        ASSERT(len2 == n && memcmp(command2, packed, n) == 0);
        raft_free(again.base);
        free(packed);
        command__free_unpacked(cmd, NULL);
    }
    {
        struct archive_packed cmds[REPL_ENTRY_MAX_COMMANDS];
        bool shared;
        size_t n = repl_entry_commands(&buf, cmds, &shared);
        ASSERT(n >= 1 && n <= REPL_ENTRY_MAX_COMMANDS);
        for (size_t i = 0; i < n; i++) {
            ASSERT(cmds[i].len == 0 ||
                   ((const uint8_t *)cmds[i].buf >= (const uint8_t *)buf.base &&
                    (const uint8_t *)cmds[i].buf + cmds[i].len <=
                        (const uint8_t *)buf.base + buf.len));
        }
        if (shared) {
            struct raft_buffer again;
            ASSERT(n >= 2);
            repl_entry_frame_many(cmds, n, &again);
            ASSERT(again.len == buf.len && memcmp(again.base, buf.base, buf.len) == 0);
            raft_free(again.base);
        }
    }
    {
        struct repl_descriptor d;
        if (repl_descriptor_parse(buf.base, buf.len, &d)) {
            struct raft_buffer again;
            ASSERT(d.index > 0 && strlen(d.http) <= ARCHIVE_ADDRESS_MAX);
            repl_descriptor_encode(&d, &again);
            ASSERT(again.len == buf.len && memcmp(again.base, buf.base, buf.len) == 0);
            free(again.base);
        }
    }
    free(buf.base);
    return 0;
}
