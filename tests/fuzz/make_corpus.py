#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

The seeds are small, hand-made from real requests and commands (docs/API.md,
archive/archive.proto); the fuzzers start from them. Run it again after changing a
target's input format, and commit the result. Crash reproducers added as regressions
are named crash-* and are kept (this script never deletes them).

License documents are signed with the harness's fixed test key (seed 01 02 .. 08, 0...,
see fuzz_common.c), which needs the Python 'cryptography' package; without it the
signed seeds are skipped."""
import hashlib
import json
import io
import os
import zipfile
import random
import struct
import sys

from seeds_on_disk import seeds_on_disk

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")
TOKEN = "fuzz-operator-token-0123456789abcdef"


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- protobuf, just enough to write Commands ----

def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, value):
    if isinstance(value, bool):
        return varint(num << 3) + varint(int(value))
    if isinstance(value, int):
        return varint(num << 3) + varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, str):
        value = value.encode()
    return varint(num << 3 | 2) + varint(len(value)) + value


def msg(*fields):
    return b"".join(field(n, v) for n, v in fields if v is not None)


T0 = 1700000000000
FA = ["f00000000000000000000000000000a%d" % i for i in (1, 2, 3)]
FB = ["f00000000000000000000000000000b%d" % i for i in (1, 2)]


def command(body_num, body, tenant="default", t=T0 + 5000, idem=None):
    return msg((1, tenant), (2, "req-1"), (3, idem), (6, t), (body_num, body))


COMMANDS = {
    "submit_a": command(12, msg((1, "CB-A"))),
    "pool_push": command(10, msg((1, "CB-C"), (2, "ER-3"), (6, "12.50"),
                                 (8, msg((1, "INV-1"), (6, "12.50"))))),
    # The ERP's bill id: claimed by CB-C, refused for another bill and as a change.
    "pool_push_fbill": command(10, msg((1, "CB-C"), (2, "ER-3"), (9, "EAS/Q+x="), (10, "EAS"),
                                       (11, "Expense claim"), (12, "+86 10 1234"),
                                       (13, "zhang.san"), (14, "Head office"),
                                       (15, "91310000MA1K4A2B3C"))),
    "pool_push_fbill_taken": command(10, msg((1, "CB-D"), (9, "EAS/Q+x="))),
    "pool_push_fbill_change": command(10, msg((1, "CB-C"), (9, "EAS/other="))),
    "pool_push_fbill_invalid": command(10, msg((1, "CB-E"), (9, "has space"), (15, "x-1"))),
    "rotate_other_bill": command(39, msg((1, "CB-A"), (2, FB[0]), (3, 90))),
    "categorize_other_bill": command(36, msg((1, "CB-A"), (2, FB[0]), (3, "cover"))),
    "delete_other_bill": command(37, msg((1, "CB-A"), (2, FB[1]))),
    "move_other_bill": command(38, msg((1, "CB-A"), (2, FB[0]), (3, FA[0]))),
    "merge_mixed": command(61, msg((1, "CB-A"), (2, FA[0]), (2, FB[0]))),
    "merge_a": command(61, msg((1, "CB-A"), (2, FA[1]), (2, FA[2]))),
    "split_other_bill": command(62, msg((1, "CB-A"), (2, FB[0]))),
    "set_invoice_other": command(31, msg((1, "CB-A"), (2, FB[0]), (3, msg((1, "N1"))))),
    "match_file_other": command(33, msg((1, "CB-A"), (2, FB[0]), (3, "INV-1"))),
    "add_file_after_other": command(11, msg((1, "CB-A"), (2, "f" + "c" * 31), (3, "x.pdf"),
                                            (9, b"\xa1" + b"\0" * 31), (8, FB[0]))),
    "add_file_replace_other": command(11, msg((1, "CB-A"), (2, "f" + "d" * 31), (3, "x.pdf"),
                                              (9, b"\xa1" + b"\0" * 31), (13, FB[0]))),
    "add_file_reusing_id": command(11, msg((1, "CB-A"), (2, FA[0]), (3, "x.pdf"),
                                           (9, b"\xa1" + b"\0" * 31))),
    "add_file_reusing_other_bills_id": command(11, msg((1, "CB-A"), (2, FB[0]), (3, "x.pdf"),
                                                       (9, b"\xa1" + b"\0" * 31))),
    "delivery_result": command(26, msg((1, 1), (2, False), (3, 500), (6, T0 + 9000))),
    "retry_delivery": command(27, msg((1, 1))),
    "license_warning": command(28, msg((1, "eval-default"), (2, 7))),
    "create_tenant": command(14, msg((1, "t2"), (2, "Tenant two"))),
    "install_license": command(15, msg((1, msg((1, "L1"), (2, "default"), (3, T0), (4, T0 + 10**10),
                                                 (5, 10**9), (7, 7))))),
    "update_org_cycle": command(22, msg((1, "o1"), (3, True), (4, "o1"))),
    "set_grants": command(23, msg((1, "u1"), (2, msg((1, "o1"), (2, True))))),
    "login_fail": command(19, msg((1, "u1"), (2, False), (3, 1), (4, 60000))),
    "set_holders": command(42, msg((1, msg((1, b"\xa0" + b"\0" * 31), (2, 2), (3, 1))))),
    "remove_node": command(41, msg((1, 1))),
    "purge_blobs": command(44, msg((1, b"\xa0" + b"\0" * 31), (2, 0))),
    "set_scheme": command(30, msg((1, "BT1"), (3, "standard"), (4, "auto"))),
    "bill_type": command(29, msg((1, "BT1"), (2, "Travel"), (3, "match"))),
    "node_storage": command(43, msg((1, 1), (2, "draining"))),
    "node_space": command(45, msg((1, 1), (2, 2 << 40), (3, True))),
    "node_space_tiny": command(45, msg((1, 1), (2, 1))),
    "node_weight": command(46, msg((1, 1), (2, 250))),
    "node_weight_out_of_range": command(46, msg((1, 1), (2, 5000))),
    "webhook_delete": command(25, msg((1, "W1"))),
    "return_bill": command(35, msg((1, "CB-A"), (2, "blurred"))),
    "erp_submit": command(34, msg((1, "CB-B"))),
    # Administration (users, roles, clients).
    "update_user_disable": command(100, msg((1, "u1"), (6, True), (7, True))),
    "update_user_demote_last_admin": command(100, msg((1, "u2"), (4, True), (5, "scanner"))),
    "update_user_no_roles": command(100, msg((1, "u1"), (4, True))),
    "set_password": command(101, msg((1, "u1"), (2, "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA"))),
    "set_password_plain": command(101, msg((1, "u1"), (2, "secret"))),
    "delete_user": command(102, msg((1, "u1"))),
    "delete_last_admin": command(102, msg((1, "u2"))),
    "update_role": command(103, msg((1, "r1"), (2, "admin"))),
    "update_builtin_role": command(103, msg((1, "scanner"), (2, "read"))),
    "delete_role_in_use": command(104, msg((1, "r1"))),
    "rotate_client": command(105, msg((1, "c1"), (2, b"\x02" * 32))),
    "rotate_client_short": command(105, msg((1, "c1"), (2, b"\x02" * 3))),
    "delete_client": command(106, msg((1, "c1"))),
    # Legal holds (apply_holds.c): placed on CB-A, a deletion refused, lifted.
    "place_hold": command(130, msg((1, "CB-A"), (2, "h0123456789abcdef"), (3, "tax audit"))),
    "place_hold_bad_id": command(130, msg((1, "CB-A"), (2, "h01"), (3, "tax audit"))),
    "lift_hold": command(131, msg((1, "CB-A"), (2, "h0123456789abcdef"), (3, "closed"))),
    "delete_file_a": command(37, msg((1, "CB-A"), (2, FA[2]))),
    # Retention (apply_retention.c): periods set and taken away; bills deleted inside
    # their period (refused), under a hold (refused) and after it, far in the future.
    # Deleting a tenant (apply_tenants.c): the prelude's licensed t2, stamped for itself;
    # refused for the default tenant and when the body names another tenant.
    "delete_tenant_t2": command(108, msg((1, "t2"), (2, "contract ended")), tenant="t2"),
    "delete_tenant_default": command(108, msg((1, "default"))),
    "delete_tenant_mismatch": command(108, msg((1, "t2"))),
    # The feature level (apply_tenants.c): raised, never lowered.
    "set_cluster_level_2": command(47, msg((1, 2))),
    "set_cluster_level_0": command(47, msg((1, 0))),
    "delete_org_o1": command(107, msg((1, "o1"))),
    "delete_org_o2": command(107, msg((1, "o2"))),
    "delete_org_bad": command(107, msg((1, "o 1"))),
    "set_retention_zero": command(132, msg((2, msg((1, 0))))),
    "set_retention_type": command(132, msg((1, "BT1"), (2, msg((1, 7))))),
    "set_retention_permanent": command(132, msg((1, "BT1"), (2, msg((1, 0xFFFFFFFF))))),
    "set_retention_too_long": command(132, msg((2, msg((1, 1001))))),
    "set_retention_clear": command(132, msg((1, "BT1"))),
    "delete_bill_a": command(133, msg((1, "CB-A"), (2, "duplicate scan"))),
    "delete_bill_a_late": command(133, msg((1, "CB-A")), t=(1 << 64) - 1),
    "delete_bill_b_late": command(133, msg((1, "CB-B"), (2, "retention over")),
                                  t=T0 + 40 * 366 * 86400000),
    "empty": b"",
}


# Commands that broke the state machine before their fix (docs/fuzzing.md).
# The operator's migration commands, on batch M1 of the harness's prelude (bills CB-A
# pending, CB-B failed, CB-C skipped) and data source mig-src.
COMMANDS.update({
    "migration_create": command(112, msg((1, "M2"), (2, "mig-src"),
                                         (3, msg((1, "o1"), (2, "BT1"), (3, T0),
                                                 (4, T0 + 86400000))))),
    "migration_create_reversed": command(112, msg((1, "M3"), (2, "mig-src"),
                                                  (3, msg((3, T0 + 5), (4, T0))))),
    "migration_create_no_source": command(112, msg((1, "M4"), (2, "nosuch"))),
    "migration_pause": command(113, msg((1, "M1"), (2, "pause"))),
    "migration_retry": command(113, msg((1, "M1"), (2, "retry"))),
    "migration_cancel": command(113, msg((1, "M1"), (2, "cancel"))),
    "migration_unknown_action": command(113, msg((1, "M1"), (2, "explode"))),
    "migration_skip": command(114, msg((1, "M1"), (2, "CB-A"), (2, "CB-B"), (2, "CB-C"),
                                       (3, True))),
    "migration_unskip": command(114, msg((1, "M1"), (2, "CB-C"), (2, "CB-C"), (3, False))),
})

CRASHES = {"add_file_reusing_id", "add_file_reusing_other_bills_id"}


def frame(cmd):
    body = b"IMGC" + struct.pack(">I", len(cmd)) + cmd
    return body + b"\0" * (-len(body) % 8)


# The invoice-data sync (archive/apply_sync.c, commands 120-125), over the prelude's data
# source "old", settings (organisation o1, tax protected) and run daily-2026-12-06.
INV_SYNC = msg((1, "INV-2"), (4, "20.00"), (5, "9.99"), (6, "29.99"))
COMMANDS.update({
    "sync_settings": command(120, msg((1, msg((1, "old"), (2, True), (3, "03:30"), (4, "o1"),
                                              (5, "total"))))),
    "sync_settings_bad": command(120, msg((1, msg((1, "old"), (3, "3:30"), (5, "colour"))))),
    "sync_run_full": command(121, msg((3, "full"))),
    "sync_run_daily_again": command(121, msg((1, "daily-2026-12-06"), (3, "scheduled"),
                                             (4, "2026-12-06"))),
    "sync_retry_pass": command(122, msg((1, "daily-2026-12-06"), (2, True))),
    "sync_page": command(122, msg((1, "daily-2026-12-06"), (3, ""), (4, ""),
                                  (5, msg((1, "CB-A"), (2, FA[1]), (3, INV_SYNC))),
                                  (5, msg((1, "CB-A"), (2, "f0000000000000000000000000000099"),
                                          (3, INV_SYNC))),
                                  (5, msg((1, "CB-B"), (2, ""), (4, "the source said no"))))),
    "sync_run_failed": command(123, msg((1, "daily-2026-12-06"), (2, "no answer"))),
    "sync_retry_failures": command(124, msg((2, True))),
    "sync_retry_run": command(125, msg((1, "daily-2026-12-06"), (2, "2026-12-07"))),
})


def seeds_command_apply():
    # Raw commands: op 0xF0, a length byte, the packed Command (the decoder's path).
    for name, cmd in COMMANDS.items():
        if len(cmd) < 256:
            # The inputs of defects found (and fixed) are named crash-*.
            prefix = "crash-" if name in CRASHES else "raw-"
            write("command_apply", prefix + name, b"\xf0" + bytes([len(cmd)]) + cmd)
    # Sequences of raw commands: an edit after an earlier change.
    seq = b""
    for name in ("merge_a", "rotate_other_bill", "split_other_bill", "delete_other_bill"):
        seq += b"\xf0" + bytes([len(COMMANDS[name])]) + COMMANDS[name]
    write("command_apply", "raw-sequence", seq)
    seq = b""
    for name in ("pool_push_fbill", "pool_push_fbill_taken", "pool_push_fbill_change",
                 "pool_push_fbill"):
        seq += b"\xf0" + bytes([len(COMMANDS[name])]) + COMMANDS[name]
    write("command_apply", "raw-sequence-fbill", seq)
    seq = b""
    for name in ("place_hold", "delete_file_a", "lift_hold", "delete_file_a"):
        seq += b"\xf0" + bytes([len(COMMANDS[name])]) + COMMANDS[name]
    write("command_apply", "raw-sequence-hold", seq)
    seq = b""
    for name in ("delete_bill_a", "place_hold", "delete_bill_a_late", "lift_hold",
                 "delete_bill_a_late", "set_retention_zero", "pool_push", "delete_bill_b_late",
                 "set_retention_permanent", "delete_file_a"):
        seq += b"\xf0" + bytes([len(COMMANDS[name])]) + COMMANDS[name]
    write("command_apply", "raw-sequence-retention", seq)
    seq = b""
    for name in ("delete_tenant_mismatch", "delete_tenant_default", "delete_tenant_t2",
                 "create_tenant", "delete_tenant_t2", "pool_push"):
        seq += b"\xf0" + bytes([len(COMMANDS[name])]) + COMMANDS[name]
    write("command_apply", "raw-sequence-tenant-delete", seq)
    seq = b""
    for name in ("migration_cancel", "migration_retry", "migration_skip", "migration_unskip",
                 "migration_pause", "migration_retry"):
        seq += b"\xf0" + bytes([len(COMMANDS[name])]) + COMMANDS[name]
    write("command_apply", "raw-sequence-migration", seq)
    for name in ("sync_retry_pass", "sync_run_failed", "sync_retry_run", "sync_retry_pass",
                 "sync_page", "sync_retry_failures", "sync_run_full", "sync_settings"):
        seq += b"\xf0" + bytes([len(COMMANDS[name])]) + COMMANDS[name]
    write("command_apply", "raw-sequence-sync", seq)
    # Built commands: one seed per body, the fields filled from a fixed random stream.
    rng = random.Random(10)
    for op in range(40):
        data = bytes([op]) + bytes(rng.randrange(256) for _ in range(96))
        write("command_apply", "built-%02d" % op, data)
    for k in range(6):
        data = b"".join(bytes([rng.randrange(40)]) + bytes(rng.randrange(256) for _ in range(60))
                        for _ in range(4))
        write("command_apply", "built-seq-%d" % k, data)
    # Shared raft entries (op 0xE0-0xEF): pool pushes, captures and submits together.
    for k in range(4):
        data = bytes([0xE0 + k]) + b"".join(
            bytes([0x40 + rng.randrange(3)]) + bytes(rng.randrange(256) for _ in range(48))
            for _ in range(2 + k))
        write("command_apply", "shared-entry-%d" % k, data)


def seeds_entry_framing():
    for name, cmd in COMMANDS.items():
        write("entry_framing", name, frame(cmd))
    write("entry_framing", "short", b"IMGC\0\0")
    write("entry_framing", "length-past-end", b"IMGC\0\0\1\0" + b"\x0a\x01a")
    write("entry_framing", "not-a-frame", b"\x0a\x07default")
    # Entries of several commands (replication/entry.c "IMGB"): pool pushes,
    # captures and submits together, one that does not hold together, bad padding.
    names = [n for n in COMMANDS if n.startswith(("pool_push", "add_file", "submit"))][:4]
    body = b"".join(len(COMMANDS[n]).to_bytes(4, "big") + COMMANDS[n] for n in names)
    many = b"IMGB" + len(names).to_bytes(4, "big") + body
    many += b"\0" * (-len(many) % 8)
    write("entry_framing", "shared", many)
    write("entry_framing", "shared-count-one", b"IMGB\0\0\0\1" + body[:12])
    write("entry_framing", "shared-bad-padding", many[:-1] + b"\1" if len(many) > len(body) + 8
          else many + b"\1" * 8)


def snapshot(records, index=7):
    body = b"IMGSNAP1" + struct.pack(">Q", index)
    for fam, k, v in records:
        body += bytes([fam]) + struct.pack(">I", len(k)) + k + struct.pack(">I", len(v)) + v
    body += b"\xff"
    return body + hashlib.blake2b(body, digest_size=32).digest()


def ready(index, digest=bytes(range(32)), version=1):
    """A READY file (storage/store_swap.h): magic, version, index, hash, BLAKE2b-128."""
    body = b"IMGREADY" + struct.pack(">IQ", version, index) + digest
    return body + hashlib.blake2b(body, digest_size=16).digest()


def seeds_store_ready():
    good = ready(12345)
    write("store_ready", "good", b"\0" + good)
    write("store_ready", "index-zero", b"\0" + ready(0))
    write("store_ready", "index-max", b"\0" + ready(2**64 - 1))
    write("store_ready", "version-2", b"\0" + ready(7, version=2))
    write("store_ready", "bad-sum", b"\0" + good[:-1] + bytes([good[-1] ^ 1]))
    write("store_ready", "short", b"\0" + good[:40])
    write("store_ready", "long", b"\0" + good + b"\0")
    write("store_ready", "empty", b"\0")
    write("store_ready", "built", b"\1" + struct.pack(">IQ", 1, 99) + bytes(32))
    write("store_ready", "built-broken", b"\3" + struct.pack(">IQ", 1, 99) + bytes(32))


def seeds_snapshot():
    applied = (0, b"applied_index", struct.pack(">Q", 7))
    bill = (1, b"default\0CB-A", msg((1, "CB-A"), (9, "captured"), (18, 1)))
    order = (7, b"default\0CB-A", msg((1, FA[0])))
    fil = (2, b"default\0" + FA[0].encode(), msg((1, FA[0]), (2, "CB-A")))
    tenant = (8, b"default", msg((1, "default"), (2, "Default")))
    write("snapshot", "empty", b"\0" + snapshot([]))
    write("snapshot", "applied-index", b"\0" + snapshot([applied]))
    write("snapshot", "bill", b"\0" + snapshot([applied, bill, fil, order, tenant]))
    write("snapshot", "bad-index-length", b"\0" + snapshot([(0, b"applied_index", b"\1\2")]))
    write("snapshot", "bad-family", b"\0" + snapshot([(200, b"k", b"v")]))
    write("snapshot", "truncated", b"\0" + snapshot([bill])[:-40])
    write("snapshot", "index-zero", b"\0" + snapshot([bill], index=0))
    # Odd mode byte: the records alone (the harness adds header and checksum).
    write("snapshot", "records", b"\x03" + snapshot([applied, bill, order])[16:-33])
    write("snapshot", "records-long-key", b"\x05" + b"\x01\xff\xff\xff\xf0" + b"k" * 8)


def seeds_license():
    payload = {"license_id": "L-2027", "tenant": "default", "issued": "2026-01-01T00:00:00Z",
               "expires": "2099-01-01T00:00:00Z", "quota_bytes": 10**12,
               "modes": ["basic", "sync", "match"], "max_files": 0}
    variants = {
        "payload": payload,
        "payload-one-mode": dict(payload, modes=["sync"]),
        "payload-expired-before-issued": dict(payload, expires="2025-01-01T00:00:00Z"),
        "payload-bad-mode": dict(payload, modes=["gold"]),
        "payload-negative-quota": dict(payload, quota_bytes=-1),
        "payload-huge-quota": dict(payload, quota_bytes=2**63 - 1, max_files=2**63 - 1),
        "payload-fraction": dict(payload, issued="2026-01-01T00:00:00.123+08:00"),
        "payload-far-future": dict(payload, expires="9999-12-31T23:59:59Z"),
        "payload-long-id": dict(payload, license_id="x" * 65),
    }
    for name, p in variants.items():
        write("license", name, b"\x01" + json.dumps(p, separators=(",", ":")).encode())
    write("license", "payload-not-object", b"\x01[1,2]")
    write("license", "modes-csv", b"\x01basic,sync")
    write("license", "doc-unsigned", b"\x00" + json.dumps({"payload": "{}", "signature": "AAAA"}).encode())
    write("license", "doc-not-json", b"\x00{\"payload\":")
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    except ImportError:
        print("make_corpus: no 'cryptography' module, signed license seeds skipped", file=sys.stderr)
        return
    key = Ed25519PrivateKey.from_private_bytes(bytes([1, 2, 3, 4, 5, 6, 7, 8]) + b"\0" * 24)
    import base64
    def signed(p):
        text = json.dumps(p, separators=(",", ":"))
        sig = base64.b64encode(key.sign(text.encode())).decode()
        return json.dumps({"payload": text, "signature": sig}, indent=2).encode()
    for name in ("payload", "payload-one-mode", "payload-fraction"):
        write("license", "doc-" + name, b"\x00" + signed(variants[name]))
        # For tenant t2 (the "tenant" seed creates it without a license), so that an
        # install from a fixed seed is not superseded by the evaluation license of a
        # default tenant created when the node started.
        write("json_bodies", "license-" + name, bytes([16, 0]) + signed(dict(variants[name], tenant="t2")))


def seeds_peer_headers():
    """mode, now, declared length, then method, target, time, signature, digest (each
    a length byte and its bytes), then the body (fuzz_peer_headers.c)."""
    def fields(mode, now, length, method, target, time_h, sig, digest, body):
        out = bytes([mode]) + struct.pack(">QQ", now, length)
        for s in (method, target, time_h, sig, digest):
            s = s.encode()
            out += bytes([len(s)]) + s
        return out + body
    sig = "0" * 64
    dig = hashlib.sha256(b"{}").hexdigest()
    write("peer_headers", "signed-propose", fields(1, T0, 9, "POST", "/internal/v1/propose", "", "", "", b"\x0a\x07default"))
    write("peer_headers", "signed-empty-body", fields(3, T0, 0, "GET", "/internal/v1/status", "", "", "", b""))
    write("peer_headers", "unsigned", fields(0, T0, 2, "POST", "/internal/v1/propose", str(T0), sig, dig, b"{}"))
    write("peer_headers", "stale", fields(0, T0, 0, "POST", "/internal/v1/read-index", str(T0 - 120000), sig, "", b""))
    write("peer_headers", "future", fields(0, T0, 0, "POST", "/internal/v1/read-index", "99999999999999999", sig, "", b""))
    write("peer_headers", "no-headers", fields(6, T0, 0, "GET", "/internal/v1/blobs/ab", "", "", "", b""))
    write("peer_headers", "bad-hex", fields(0, T0, 0, "GET", "/", str(T0), "zz" * 32, "", b""))
    write("peer_headers", "blob-copy", fields(8, T0, 4096, "PUT", "/internal/v1/blobs/" + "ab" * 32, str(T0), sig, "", b""))


def seeds_peer_answer():
    """mode, time text, the genuine lines' place, then header lines (each a length byte
    and its bytes), then a signature to check alone (fuzz_peer_answer.c)."""
    def s(text):
        b = text.encode() if isinstance(text, str) else text
        return bytes([len(b)]) + b
    lines = [s("Content-Type: application/json\r\n"), s("Content-Length: 2\r\n")]
    write("peer_answer", "genuine", bytes([1]) + s("1765000001234") + bytes([1]) + b"".join(lines))
    write("peer_answer", "genuine-last", bytes([1]) + s("1765000001234") + bytes([7]) + b"".join(lines))
    write("peer_answer", "bad-time", bytes([1]) + s("17650000x1234") + bytes([0]) + b"".join(lines))
    write("peer_answer", "forged", bytes([0]) + s("1765000001234") + bytes([0]) +
          s("X-Imgarc-Time: 1765000001234\r\n") + s("X-Imgarc-Time-Signature: " + "ab" * 32 + "\r\n") +
          s("ab" * 32))
    write("peer_answer", "odd-lines", bytes([0]) + s("") + bytes([0]) + s("X-Imgarc-Time:") +
          s("x-imgarc-time:    42   \r\n") + s("X-Imgarc-Time-Signature\r\n") + s(":\r\n"))


def seeds_propose_result():
    """A forwarded proposal's answer as the leader packs it (fuzz_propose_result.c)."""
    write("propose_result", "applied-capture", msg(
        (1, 0), (3, False), (4, True), (5, 42), (6, "BX-0001"), (7, FA[0]),
        (8, "captured"), (9, "invoice"), (10, 2), (11, 42)))
    write("propose_result", "replayed", msg((1, 0), (3, True), (5, 7), (6, "BX-0001"),
                                            (8, "submitted"), (11, 43)))
    write("propose_result", "refused", msg((1, 3), (2, "bill BX-9 not found"), (11, 44)))
    write("propose_result", "no-entry", msg((1, 0), (5, 1)))
    write("propose_result", "negative-status", msg((1, -1), (11, 9)))
    write("propose_result", "long-strings", msg((1, 0), (2, "m" * 600), (6, "i" * 300),
                                                (7, "f" * 80), (8, "s" * 40), (9, "c" * 60),
                                                (11, 1)))


def seeds_blob_chunks():
    """mode (blob, raw or changed, new length), then the list's bytes or a new length
    and flips of (offset high, offset low, xor) (fuzz_blob_chunks.c)."""
    for blob in range(4):
        write("blob_chunks", "genuine-%d" % blob, bytes([blob]) + struct.pack(">I", 0))
        write("blob_chunks", "flip-%d" % blob, bytes([blob]) + struct.pack(">I", 0) + bytes([0, 40, 0x01]))
        write("blob_chunks", "short-%d" % blob, bytes([0x40 | blob]) + struct.pack(">I", 20))
        write("blob_chunks", "raw-%d" % blob, bytes([0x80 | blob]) + b"imgarc chunks\n" + bytes(64))
    write("blob_chunks", "empty", bytes([0x80]))


def seeds_pdf_pages():
    """The PDF fixtures (tests/fixtures/pdf/, made by its make_fixtures.py: classic,
    nested, repaired, object streams, encrypted, truncated, garbage) and a few small
    edge cases of the page tree. Not the decompression bomb: the target runs qpdf in its
    own process, where it would only measure libFuzzer's -rss_limit_mb (a node runs
    qpdf in a limited child: archive/document.h)."""
    fixtures = os.path.join(HERE, "..", "fixtures", "pdf")
    for name in sorted(os.listdir(fixtures)):
        if name.endswith(".pdf") and not name.startswith("bomb"):
            with open(os.path.join(fixtures, name), "rb") as f:
                write("pdf_pages", name[:-4], f.read())

    def classic(objs):
        body = b"%PDF-1.4\n"
        offsets = []
        for i, o in enumerate(objs):
            offsets.append(len(body))
            body += b"%d 0 obj\n%s\nendobj\n" % (i + 1, o.encode())
        xref = len(body)
        body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
        body += b"".join(b"%010d 00000 n \n" % off for off in offsets)
        return body + (b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
                       % (len(objs) + 1, xref))

    cat = "<< /Type /Catalog /Pages 2 0 R >>"
    page = "<< /Type /Page /Parent 2 0 R >>"
    write("pdf_pages", "one-page", classic([cat, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                                            page]))
    write("pdf_pages", "no-pages", classic([cat, "<< /Type /Pages /Kids [] /Count 0 >>"]))
    # A /Pages node that is its own kid, and a page listed twice.
    write("pdf_pages", "loop", classic([cat, "<< /Type /Pages /Kids [2 0 R] /Count 1 >>"]))
    write("pdf_pages", "twice", classic([cat, "<< /Type /Pages /Kids [3 0 R 3 0 R] /Count 2 >>",
                                         page]))
    # A page tree that is not a dictionary, and a kid that is a number.
    write("pdf_pages", "not-a-tree", classic([cat, "[1 2 3]"]))
    write("pdf_pages", "kid-number", classic([cat, "<< /Type /Pages /Kids [7] /Count 1 >>"]))


def seeds_outbound():
    """An allow rule, a URL (each a length byte and its bytes), then the address:
    family (0 IPv4, 1 IPv6), 16 address bytes, port (fuzz_outbound.c)."""
    def one(rule, url, family, addr, port):
        out = b""
        for s in (rule, url):
            s = s.encode()
            out += bytes([len(s)]) + s
        return out + bytes([family]) + (addr + bytes(16))[:16] + struct.pack(">H", port)
    v4 = lambda a: bytes(int(x) for x in a.split("."))
    write("outbound", "loopback", one("", "http://127.0.0.1:8080/hook", 0, v4("127.0.0.1"), 8080))
    write("outbound", "metadata", one("", "http://169.254.169.254/latest", 0, v4("169.254.169.254"), 80))
    write("outbound", "allowed-cidr", one("10.0.0.0/8", "https://erp.example/hooks", 0, v4("10.1.2.3"), 443))
    write("outbound", "allowed-host-port", one("erp.example:8443", "https://erp.example:8443/x", 0, v4("192.168.1.5"), 8443))
    write("outbound", "mapped-v6", one("", "http://[::ffff:127.0.0.1]/", 1, bytes(10) + b"\xff\xff" + v4("127.0.0.1"), 80))
    write("outbound", "v6-link-local", one("[fe80::1]:80", "http://[fe80::1]/", 1, b"\xfe\x80" + bytes(13) + b"\x01", 80))
    write("outbound", "public", one("", "http://93.184.216.34/", 0, v4("93.184.216.34"), 80))
    write("outbound", "decimal-host", one("bad rule!", "http://2130706433/", 0, v4("127.0.0.1"), 80))
    write("outbound", "own-raft", one("203.0.113.0/24", "http://203.0.113.9:9080/", 0, v4("203.0.113.9"), 9080))


def seeds_raft_handshake():
    """The first byte picks the role (fuzz_raft_handshake.c); then the bytes."""
    hello = (b"IMGRAFT1" + struct.pack(">QQ", 11, 22) + bytes(range(32)) +
             bytes([14]) + b"127.0.0.1:9011")
    server = b"IMGRAFT1" + struct.pack(">Q", 22) + bytes(range(32, 64))
    for i, chunks in enumerate([hello, hello + b"\x01" + bytes(32), hello[:20]]):
        write("raft_handshake", "stranger-%d" % i, bytes([0]) + chunks)
    write("raft_handshake", "raft-uv-tcp", bytes([0]) + struct.pack("<QQQ", 1, 11, 16) + b"127.0.0.1:9011\0\0")
    write("raft_handshake", "server-hello", bytes([1]) + server + bytes(32))
    write("raft_handshake", "honest", bytes([2]) + bytes(8))
    write("raft_handshake", "honest-rotation", bytes([2 | 4 | 8]) + bytes(8))
    write("raft_handshake", "flip-hello", bytes([2, 20, 1]) + bytes(6))
    write("raft_handshake", "forged-frames", bytes([3]) + bytes(8) + struct.pack(">I", 40) + bytes(40))


REQ = "{m} {p} HTTP/1.1\r\nHost: n1\r\nAuthorization: Bearer " + TOKEN + "\r\n{h}\r\n{b}"


def req(method, path, body="", headers=""):
    h = headers
    if body and "Transfer-Encoding" not in headers:
        h += "Content-Length: %d\r\n" % len(body.encode())
    return REQ.format(m=method, p=path, h=h, b=body)


def chunked(body, size=5):
    out = ""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += "%x\r\n%s\r\n" % (len(part), part)
    return out + "0\r\n\r\n"


def seeds_tls_accept():
    """The TLS layer (fuzz_tls_accept.c): byte 0 < 0x80 is a TLS client sending the rest
    in records of (byte & 63) * 97 + 1 bytes; with its top bit set, raw bytes."""
    body = "x" * 3000
    reqs = {
        "get": "GET /healthz HTTP/1.1\r\nHost: n1\r\n\r\n",
        "post": req("POST", "/upload", body),
        "chunked": req("POST", "/upload", chunked(body), "Transfer-Encoding: chunked\r\n"),
        "pipelined": "GET /a HTTP/1.1\r\n\r\n" + req("POST", "/b", "0123456789") +
                     "GET /c HTTP/1.1\r\nConnection: close\r\n\r\n",
        "bad": "GET /\x00 HTTP/1.1\r\n\r\n",
    }
    for name, text in reqs.items():
        write("tls_accept", name, b"\x3f" + text.encode("latin-1"))
        write("tls_accept", name + "-small-records", b"\x00" + text.encode("latin-1"))
    write("tls_accept", "raw-plain-http", b"\x80" + reqs["get"].encode())
    write("tls_accept", "raw-client-hello-cut", b"\x80\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    write("tls_accept", "raw-empty", b"\x80")


def seeds_http_request():
    pool = '{"image_no":"BX-1","bill_no":"ER-1","amount":"12.50"}'
    reqs = {
        "healthz": "GET /healthz HTTP/1.1\r\nHost: n1\r\n\r\n",
        "version": "GET /api/v1/version HTTP/1.1\r\n\r\n",
        "metrics": "GET /metrics HTTP/1.1\r\nHost: n1\r\n\r\n",
        "pool": req("POST", "/api/v1/pool", pool),
        "pool-chunked": req("POST", "/api/v1/pool", chunked(pool), "Transfer-Encoding: chunked\r\n"),
        "pool-chunked-ext": req("POST", "/api/v1/pool", "5;a=b\r\n{\"ima\r\n0\r\nX-T: 1\r\n\r\n",
                                "Transfer-Encoding: chunked\r\n"),
        "pipelined": "GET /healthz HTTP/1.1\r\n\r\n" + req("GET", "/api/v1/bills/BX-1/status") +
                     req("POST", "/api/v1/pool", pool),
        "upload": req("POST", "/api/v1/bills/BX-1/files?name=scan.pdf&category=cover", "%PDF-1.4 x"),
        "upload-expect": req("POST", "/api/v1/bills/BX-1/files?name=a.pdf", "abc", "Expect: 100-continue\r\n"),
        "status-consistent": req("GET", "/api/v1/bills/BX-1/status?consistent=true"),
        "list-bills": req("GET", "/api/v1/bills?state=captured&limit=2&after=A"),
        "list-bills-filters": req("GET", "/api/v1/bills?bill_no=ER-1&fbill_id=EAS%2FQ%2Bx%3D"
                                  "&org=&created_from=2026-12-01T08:00:00+08:00"
                                  "&created_to=2026-12-31&cursor=A&limit=5"),
        "list-bills-mode": req("GET", "/api/v1/bills?mode=match&state=submitted"),
        "match-results": req("GET", "/api/v1/bills/BX-1/match"),
        "content-range": req("GET", "/api/v1/files/f0123/content", "", "Range: bytes=0-3\r\n"),
        "head-content": req("HEAD", "/api/v1/files/f0123/content"),
        "percent-path": req("GET", "/api/v1/bills/B%58-1/log"),
        "bad-percent": req("GET", "/api/v1/bills/%zz/log"),
        "query-tenant": req("GET", "/api/v1/bills?tenant=default"),
        "login": "POST /api/v1/auth/login HTTP/1.1\r\nContent-Length: 37\r\n\r\n"
                 '{"username":"u1","password":"secret"}',
        "token": "POST /api/v1/auth/token HTTP/1.1\r\nContent-Length: 43\r\n\r\n"
                 '{"client_id":"c1","client_secret":"s3cret"}',
        "http10": "GET /healthz HTTP/1.0\r\n\r\n",
        "keep-alive-close": "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\nGET /readyz HTTP/1.1\r\n\r\n",
        "request-id": "GET /healthz HTTP/1.1\r\nX-Request-Id: abc-123\r\n\r\n",
        "min-index": req("GET", "/api/v1/bills", "", "X-Imgarc-Min-Index: 1\r\n"),
        "bad-method": "BREW /healthz HTTP/1.1\r\n\r\n",
        "both-lengths": req("POST", "/api/v1/pool", "5\r\n{}{}{\r\n0\r\n\r\n",
                            "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
        "internal": "POST /internal/v1/propose HTTP/1.1\r\nX-Imgarc-Time: 1\r\nX-Imgarc-Signature: 00\r\n"
                    "Content-Length: 2\r\n\r\n{}",
        "orgs-patch": req("PATCH", "/api/v1/orgs/o1", '{"name":"x","parent":null}'),
        "delete-file": req("DELETE", "/api/v1/bills/BX-1/files/f1"),
        "cluster": req("GET", "/api/v1/cluster"),
        "options": "OPTIONS * HTTP/1.1\r\n\r\n",
        "header-long": "GET /healthz HTTP/1.1\r\nX-A: " + "a" * 300 + "\r\n\r\n",
        # Signed links and event codes (the credential is the path) and vendor calls.
        "link": "GET /api/v1/links/imglnk1.eyJlIjoxLCJmIjoiZjEiLCJ0IjoiZGVmYXVsdCJ9.AAAA "
                "HTTP/1.1\r\nRange: bytes=0-3\r\n\r\n",
        "event-view": "GET /api/v1/events/imgevt1.eyJlIjoxfQ.x HTTP/1.1\r\n\r\n",
        "event-index": "GET /index.html?formId=bds_match_list&eventCode=imgevt1.e30.x "
                       "HTTP/1.1\r\n\r\n",
        "vendor-operate": "POST /kapi/app/bds/operate?access_token=imgarc1.e30.x HTTP/1.1\r\n"
                          "Content-Length: 2\r\n\r\n{}",
        "vendor-unknown": "POST /kapi/app/nothing HTTP/1.1\r\naccess_token: x\r\n\r\n",
    }
    for name, r in reqs.items():
        write("http_request", name, b"\x00" + r.encode())
    write("http_request", "pool-chunked-split", b"\x83" + reqs["pool-chunked"].encode())
    write("http_request", "pipelined-split", b"\x8a" + reqs["pipelined"].encode())


JSON = [
    ("pool", 0, 0, '{"image_no":"CB-C","bill_no":"ER-3","bill_type":"BT1","org":"o1","amount":"12.50",'
                   '"invoices":[{"number":"INV-1","code":"C1","date":"2026-01-01","amount":"10",'
                   '"tax":"2.50","total":"12.50"}]}'),
    ("pool-erp", 0, 0, '{"image_no":"CB-C","fbill_id":"EAS/Q+x=","source":"EAS",'
                       '"bill_type_name":"Expense","submitter_phone":"+86 10 1234",'
                       '"submitter_erp_name":"zs","org_name":"HQ","tax_no":"91310000MA1K4A2B3C"}'),
    ("submit", 1, 0, ""),
    ("categorize-other-bill", 2, 0, '{"file_ids":["$FB1"],"category":"cover"}'),
    ("categorize", 2, 0, '{"file_ids":["$FA2"],"category":"invoice"}'),
    ("delete-other-bill", 3, 0, '{"file_ids":["$FB2"]}'),
    ("delete-file-other-bill", 4, 3 << 2, ""),
    ("rotate-other-bill", 5, 0, '{"file_ids":["$FB1"],"degrees":90}'),
    ("rotate", 5, 0, '{"file_ids":["$FA1","$FA2"],"degrees":-90}'),
    ("move-after-other", 6, 0, '{"after":"$FB1"}'),
    ("move-first", 6, 1 << 2, '{"after":null,"category":"cover"}'),
    ("merge-mixed", 7, 0, '{"file_ids":["$FA3","$FB1"]}'),
    ("merge", 7, 0, '{"file_ids":["$FA2","$FA3"]}'),
    ("split-other-bill", 8, 3 << 2, ""),
    ("patch-invoice", 9, 1 << 2, '{"invoice":{"number":"INV-1","total":"12.50"}}'),
    ("match", 10, 0, ""),
    ("match-file", 11, 1 << 2, '{"invoice_number":"INV-1"}'),
    ("unmatch", 12, 1 << 2, ""),
    ("erp-submit", 13, 0, ""),
    ("return", 14, 0, '{"reason":"blurred scan"}'),
    ("tenant", 15, 0, '{"id":"t2","name":"Tenant two"}'),
    ("client", 17, 0, '{"tenant":"default","name":"erp"}'),
    ("token", 18, 0, '{"client_id":"c1","client_secret":"x"}'),
    ("login", 19, 0, '{"username":"u1","password":"fuzz-password-1"}'),
    ("user", 20, 0, '{"username":"u2","name":"U two","password":"password-22","roles":["reviewer"]}'),
    ("unlock", 21, 0, ""),
    ("grants", 22, 0, '{"grants":[{"org":"o1","include_children":true},{"org":"*"}]}'),
    ("role", 23, 0, '{"name":"r2","permissions":["read","edit"]}'),
    ("org", 24, 0, '{"id":"o2","name":"Org two","parent":"o1"}'),
    ("org-move", 25, 1 << 5, '{"parent":"o2"}'),
    ("webhook", 26, 0, '{"url":"https://example.com/h","events":["captured","ready"],"secret":"s"}'),
    ("webhook-delete", 27, 2 << 5, ""),
    ("retry", 28, 3 << 5, ""),
    ("bill-type", 29, 0, '{"code":"BT1","name":"Travel","mode":"match"}'),
    ("scheme", 30, 0, '{"bill_type":"BT1","org":"o1","match":"standard","submit":"auto"}'),
    ("category", 31, 0, '{"code":"receipt","name":"Receipt"}'),
    ("drain", 32, 3 << 5, ""),
    ("undrain", 33, 3 << 5, ""),
    ("remove-node", 34, 5 << 5, ""),
    ("join", 35, 0, '{"http":"127.0.0.1:1"}'),
    ("upload-after-other", 36, 3 << 2, "<xml>invoice</xml>"),
    ("get-bill", 37, 0, ""),
    ("vendor-app-token", 38, 0, '{"appId":"c1","appSecret":"x","tenantid":"default","accountId":"1"}'),
    ("vendor-login", 39, 0, '{"user":"u1","apptoken":"imgapp1.e30.AAAA","tenantid":"default","usertype":"UserName"}'),
    ("vendor-push", 40, 0, '{"fscanBillNo":"CB-V","fbillId":"F-1","fbillTypeCode":"FYBX","resource":"EAS",'
                           '"billNo":12,"fapplyOrganizationCode":"o1","fapplyUserName":"Wang","taxNo":"9131"}'),
    ("vendor-operate", 41, 0, '{"operateType":"queryBillStatus","operateId":"1","data":{"scanBillNo":"CB-A","resource":"EAS"}}'),
    ("vendor-event-code", 42, 0, '{"scanBillNo":"CB-A, CB-B","resource":"EAS"}'),
    ("vendor-query-cover", 43, 0, '{"billType":"FYBX","billId":"CB-A"}'),
    ("file-link", 44, 1 << 2, ""),
    ("not-json", 2, 0, '{"file_ids":'),
    ("wrong-types", 5, 0, '{"file_ids":"x","degrees":"90"}'),
    ("deep", 0, 0, '{"image_no":' + "[" * 50 + "]" * 50 + '}'),
]


# The vendor's scanBillSubmit and logout.do (appended to fuzz_json_bodies.c's endpoints).
JSON += [
    ("vendor-submit-collected", 45, 0, '{"scanBillNo":"CB-C","modelType":1,"saveType":"add",'
     '"isSubmitErp":0,"billType":{"number":"FYBX"},"fileList":[{"fileNo":"$FC1"}]}'),
    ("vendor-submit-replace", 45, 1, '{"scanBillNo":"CB-B","saveType":"upload",'
     '"fileList":[{"srcPath":"collect/$FC1/x.pdf"},{"fileNo":"$FA1"}]}'),
    ("vendor-logout", 46, 0, '{"access_token":"imgarc1.eyJ0IjoiZGVmYXVsdCJ9.x"}'),
]

# Administration of users, roles and clients (appended to the endpoints too); the
# name is bits 5-7 of the parameter byte: 0 "u1", 6 "admin".
JSON += [
    ("user-update", 47, 0, '{"name":"U One","roles":["scanner"],"disabled":false}'),
    ("user-update-disable", 47, 0, '{"disabled":true}'),
    ("user-update-unknown-field", 47, 0, '{"nick":"x"}'),
    ("user-update-bad-roles", 47, 0, '{"roles":[1,{"a":[]}]}'),
    ("user-password", 48, 0, '{"password":"a new password"}'),
    ("own-password", 49, 0, '{"old":"x","new":"a new password"}'),
    ("role-update", 50, 6 << 5, '{"permissions":["read","admin"]}'),
    ("role-delete", 51, 6 << 5, ""),
    ("client-rotate", 52, 0, ""),
    ("client-delete", 53, 0, ""),
    ("user-delete", 54, 0, ""),
    ("operator-exchange-wrong", 55, 0, '{"token":"not the operator token"}'),
    ("operator-exchange-not-string", 55, 0, '{"token":["x",{"y":1}]}'),
    ("operator-exchange", 55, 0, '{"token":"fuzz-operator-token-0123456789abcdef"}'),
]

# Migration batches (appended to the endpoints: 56 create, 57-61 start, pause, resume,
# retry, cancel, 62 skip); the name is bits 5-7 of the parameter byte: 3 is batch "1".
JSON += [
    ("migration-create", 56, 0, '{"batch_no":"M2","datasource":"ds1","scope":{"orgs":["o1"],'
     '"bill_types":["BT1"],"from":"2026-01-01","to":"2026-01-31T12:00:00+08:00"}}'),
    ("migration-create-no-source", 56, 0, '{"batch_no":"M3","datasource":"nosuch"}'),
    ("migration-create-bad-scope", 56, 0, '{"batch_no":"M4","datasource":"ds1","scope":'
     '{"orgs":[1,"",null],"from":"2026-13-01","to":[]}}'),
    ("migration-create-reversed", 56, 0, '{"batch_no":"M5","datasource":"ds1","scope":'
     '{"from":"2026-02-01","to":"2026-01-01"}}'),
    ("migration-start", 57, 3 << 5, ""),
    ("migration-pause", 58, 3 << 5, ""),
    ("migration-resume", 59, 3 << 5, ""),
    ("migration-retry", 60, 3 << 5, ""),
    ("migration-cancel", 61, 3 << 5, ""),
    ("migration-start-dots", 57, 7 << 5, ""),
    ("migration-skip", 62, 3 << 5, '{"image_nos":["CB-A","CB-B","x y"],"skip":true}'),
    ("migration-unskip", 62, 3 << 5, '{"image_nos":["CB-A"],"skip":false}'),
    ("migration-skip-bad", 62, 3 << 5, '{"image_nos":"CB-A","skip":"yes","z":1}'),
]


# Data sources (appended to the endpoints after the batches): 63 create, 64 change,
# 65 delete, 66 test, 67 show; the name is bits 5-7 of the parameter byte: 1 "o1" (made at start), 6 "admin".
JSON += [
    ("datasource-imgarc", 63, 0, '{"name":"src-i","kind":"imgarc","url":"https://old.example",'
     '"tenant":"acme","client_id":"c1","client_secret":"s3cret","enabled":false}'),
    ("datasource-vendor", 63, 0, '{"name":"src-v","kind":"vendor","url":"http://192.0.2.7/x/",'
     '"app_id":"a","app_secret":"s","tenant_id":"t","account_id":"","user":"erp",'
     '"list_path":"/kapi/app/bds/queryBillList"}'),
    ("datasource-other-kind-field", 63, 0, '{"name":"x","kind":"vendor","url":"http://h",'
     '"client_secret":"s","app_id":"a","tenant_id":"t","user":"u"}'),
    ("datasource-bad-url", 63, 0, '{"name":"y","kind":"imgarc","url":"https://h/?q#f",'
     '"tenant":"t","client_id":"c","client_secret":"s"}'),
    ("datasource-types", 63, 0, '{"name":["x"],"kind":{"a":1},"url":7,"enabled":"no"}'),
    ("datasource-nul", 63, 0, '{"name":"z","kind":"imgarc","url":"http://h","tenant":"t\\u0000x",'
     '"client_id":"c","client_secret":"s"}'),
    ("datasource-patch", 64, 1 << 5, '{"url":"http://192.0.2.8","enabled":false,"app_secret":"n"}'),
    ("datasource-patch-kind", 64, 1 << 5, '{"kind":"imgarc"}'),
    ("datasource-patch-empty", 64, 1 << 5, '{}'),
    ("datasource-patch-missing", 64, 6 << 5, '{"user":"x"}'),
    ("datasource-delete", 65, 1 << 5, ""),
    ("datasource-test", 66, 1 << 5, ""),
    ("datasource-show", 67, 7 << 5, ""),
]


def seeds_vendor_answer():
    """A vendor data source's answers (fuzz_vendor_answer.c): byte 0 even a list page,
    odd a queryCover (then a length byte and a source_ref); bytes 1-2 page and size."""
    page = {"success": True, "errorCode": "0000", "message": "success", "data": {
        "total": 3, "bills": [
            {"scanBillNo": "FY-1", "billNo": "BX1", "billType": "FYBX", "orgCode": "O1",
             "createTime": "2026-03-01 10:00:00", "imageStatus": 2, "billId": "erp-1"},
            {"scanBillNo": "FY-2", "billNo": 7, "billType": "FYBX", "orgCode": "O2",
             "createTime": 1772330400000, "imageStatus": "11", "billId": 99},
            {"scanBillNo": "FY-3", "createTime": "2026-03-01T10:00:00+08:00"}]}}
    write("vendor_answer", "list", bytes([0, 1, 2]) + json.dumps(page).encode())
    write("vendor_answer", "list-bad-time", bytes([0, 1, 1]) + json.dumps(
        {"data": {"bills": [{"scanBillNo": "X", "createTime": "yesterday"}]}}).encode())
    write("vendor_answer", "list-no-bills", bytes([0, 0, 0]) + b'{"data":{"bills":{}}}')
    write("vendor_answer", "list-real-status", bytes([2, 3, 100]) +
          b'{"data":{"total":1e400,"bills":[{"scanBillNo":"A","imageStatus":1e300}]}}')
    cover = {"success": True, "errorCode": "0000", "data": {
        "cover": [{"localUrl": "http://127.0.0.1:9/files/c.pdf", "coverNo": "IMG-1",
                   "fileType": 1}],
        "attachment": [{"attachmentName": "Receipt.JPEG", "localUrl": "/files/r",
                        "serialNo": 2, "attachmentType": "attach", "fileId": "f-7"}],
        "invoice": [{"invoiceName": "inv", "localUrl": "http://h/i?x=1", "fileType": 1,
                     "invoiceNo": "12345678", "amount": 12.5, "totalAmount": "14.13"},
                    {"localUrl": "http://h/j", "invoice": {"number": "9", "code": "1"}}]}}
    ref = b"v1:2:1772330400000:erp-1"
    write("vendor_answer", "cover", bytes([1, 0, 0, len(ref)]) + ref + json.dumps(cover).encode())
    ref = b"v1:11:0:erp-2"
    write("vendor_answer", "cover-deleted", bytes([1, 0, 0, len(ref)]) + ref + b'{"data":{}}')
    write("vendor_answer", "cover-no-ref", bytes([1, 0, 0, 0]) + b'{"data":{"cover":[{}]}}')
    ref = b"v1:0:0:x"
    write("vendor_answer", "cover-bad-lists", bytes([3, 0, 0, len(ref)]) + ref +
          b'{"data":{"cover":{"a":1},"invoice":[1,"x",null]}}')


# The invoice-data sync (api/sync.c; appended to fuzz_json_bodies.c's endpoints, after
# the data sources): settings over the harness's data source "o1", runs and retries, good
# and bad.
JSON += [
    ("sync-settings", 68, 0, '{"datasource":"o1","enabled":true,"daily_at":"02:00",'
     '"orgs":["o1","o2"],"protected_fields":["tax","total"]}'),
    ("sync-settings-bad-time", 68, 0, '{"datasource":"o1","daily_at":"24:61"}'),
    ("sync-settings-bad-field", 68, 0, '{"datasource":"o1","protected_fields":["tax","tax"]}'),
    ("sync-settings-types", 68, 0, '{"datasource":1,"enabled":"yes","orgs":{"a":1}}'),
    ("sync-run-date", 69, 0, '{"org":"o1","date":"2026-12-06"}'),
    ("sync-run-full", 69, 0, '{"date":""}'),
    ("sync-run-bill", 69, 0, '{"image_no":"CB-A"}'),
    ("sync-run-both", 69, 0, '{"image_no":"CB-A","date":"2026-02-30"}'),
    ("sync-run-empty", 69, 0, ''),
    ("sync-retry", 70, 0, '{"org":"o1"}'),
    ("sync-retry-all", 70, 0, '{}'),
    ("sync-run-show", 71, 0, ''),
]

# The operator's placement weight of a node (appended to the endpoints: 72); the name is
# bits 5-7 of the parameter byte: 3 is "1", 5 "99".
JSON += [
    ("node-weight", 72, 3 << 5, '{"weight_pct":200}'),
    ("node-weight-zero", 72, 3 << 5, '{"weight_pct":0}'),
    ("node-weight-types", 72, 5 << 5, '{"weight_pct":"50","x":[1]}'),
]

# Legal holds (appended to the endpoints: 73 places, 74 lifts), on CB-A.
JSON += [
    ("hold-place", 73, 0, '{"reason":"tax audit 2026-04"}'),
    ("hold-place-empty", 73, 0, '{"reason":""}'),
    ("hold-place-types", 73, 1, '{"reason":["x"],"hold_id":"h0123456789abcdef"}'),
    ("hold-lift", 74, 0, '{"reason":"audit closed"}'),
    ("hold-lift-no-body", 74, 0, ''),
]

# Retention and deleting bills (appended: 75 deletes a bill, 76 reads the periods, 77
# sets one).
JSON += [
    ("bill-delete", 75, 0, '{"reason":"duplicate scan"}'),
    ("bill-delete-no-body", 75, 1, ''),
    ("bill-delete-types", 75, 2, '{"reason":7,"x":1}'),
    ("retention-get", 76, 0, ''),
    ("retention-set-default", 77, 0, '{"years":0}'),
    ("retention-set-type", 77, 0, '{"bill_type":"BT1","years":"permanent"}'),
    ("retention-set-clear", 77, 0, '{"bill_type":"BT1","years":null}'),
    ("retention-set-bad", 77, 0, '{"years":-1,"bill_type":["x"]}'),
    ("tenant-delete", 79, 3 << 5, '{"confirm":"1","reason":"x"}'),
    ("tenant-delete-no-confirm", 79, 3 << 5, '{"reason":"x"}'),
    ("tenant-delete-empty", 79, 4 << 5, ''),
    ("org-delete", 78, 1 << 5, ''),
    ("org-delete-unknown", 78, 5 << 5, ''),
]


def seeds_json_bodies():
    for name, ep, param, body in JSON:
        write("json_bodies", name, bytes([ep, param]) + body.encode())


def seeds_einvoice():
    """The e-invoice fixtures (tests/fixtures/einvoice/, made by its make_fixtures.py):
    XML as einvoice_xml seeds; OFDs as ofd seeds, raw (first byte 0) and as the parts
    the harness zips itself (first byte 1, parts split at "\\xff\\xfe")."""
    fixtures = os.path.join(HERE, "..", "fixtures", "einvoice")
    sep = b"\xff\xfe"
    for name in sorted(os.listdir(fixtures)):
        with open(os.path.join(fixtures, name), "rb") as f:
            data = f.read()
        stem = name.rsplit(".", 1)[0]
        if name.endswith(".xml"):
            write("einvoice_xml", stem, data)
            write("ofd", "attached-" + stem,
                  b'\x01<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016"/>' + sep + data)
        elif name.endswith(".ofd") and len(data) < 8192:
            write("ofd", stem, b"\x00" + data)
            if not zipfile.is_zipfile(io.BytesIO(data)):
                continue
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                parts = [z.read(n) for n in z.namelist()]
            write("ofd", "parts-" + stem, b"\x03" + sep.join(parts))


def seeds_recognition_answer():
    """Recognition services' answers (fuzz_recognition_answer.c, docs/recognition.md)."""
    inv = {"number": "23440000000000012345", "code": "044001", "date": "2026-11-20",
           "amount": "100.00", "tax": "13.00", "total": "113.00"}
    write("recognition_answer", "full", json.dumps({"invoice": inv}))
    write("recognition_answer", "extra-members", json.dumps(
        {"invoice": dict(inv, seller_tax_no="91440300MA5XXXXXX1", buyer_tax_no="X"),
         "confidence": 0.97, "pages": [1, 2]}))
    write("recognition_answer", "number-only", '{"invoice":{"number":"1"}}')
    write("recognition_answer", "nulls", '{"invoice":{"number":"7","code":null,"tax":null}}')
    write("recognition_answer", "unicode", json.dumps(
        {"invoice": {"number": "\u53d1\u7968-1", "date": "2026\u5e7411\u670820\u65e5"}},
        ensure_ascii=False))
    write("recognition_answer", "no-number", '{"invoice":{"number":""}}')
    write("recognition_answer", "number-not-string", '{"invoice":{"number":12345}}')
    write("recognition_answer", "bad-amount", '{"invoice":{"number":"1","amount":"12,50"}}')
    write("recognition_answer", "too-long", json.dumps({"invoice": {"number": "9" * 65}}))
    write("recognition_answer", "duplicate", '{"invoice":{"number":"1"},"invoice":{}}')
    write("recognition_answer", "not-object", '["invoice"]')
    write("recognition_answer", "error", '{"error":"not an invoice"}')


def seeds_json_stream():
    """fileCollect bodies (fuzz_json_stream.c): a piece-size byte, then the body."""
    write("json_stream", "collect-pdf", b'\x10{"base64": "JVBERi0xLjQKJcfsj6IK", '
          b'"fileSuffix": "pdf", "fileType": "invoice", "scanBillNo": "VC-1", '
          b'"needRecognition": "0"}')
    write("json_stream", "collect-escaped", b'\x03{"fileType":"cover","base64":'
          b'"QU\\/J\\nD\\r\\nQUJD\\u0041QQ==","billType":{"number":"BX","x":[1,2,'
          b'{"y":"]"}]},"n":-1.5e3,"t":true,"z":null}')
    write("json_stream", "collect-urlsafe-unpadded", b'\x00{"base64":"-_-_QUI",'
          b'"resource":"REG_SDJ"}')
    write("json_stream", "bad-base64", b'\x07{"base64":"ab$c"}')
    write("json_stream", "bad-json", b'\x01{"base64":"QUJD" "x":1}')
    write("json_stream", "surrogates", b'\x02{"a":"\\ud83d\\ude00\\u00e9",'
          b'"skip":"\\ud800"}')
    write("json_stream", "download", b'\x05{"fileDownUrl":"http://127.0.0.1:8080/x.pdf",'
          b'"fileSuffix":"pdf"}')


def seeds_sealed():
    # Mode 1: payloads the harness seals; mode 0: texts as they arrive.
    write("sealed", "link-payload", b"\x01" + b'{"e":99999999999999,"f":"f1","t":"default"}')
    write("sealed", "event-payload", b"\x03" + b'{"b":["CB-A","CB-B"],"e":1,"t":"default"}')
    write("sealed", "app-payload", b"\x05" + b'{"a":"c1","e":1,"t":"default"}')
    write("sealed", "text-garbage", b"\x00imglnk1.eyJlIjoxfQ.AAAA")
    write("sealed", "text-no-dot", b"\x02imgevt1.eyJlIjoxfQ")
    write("sealed", "text-access-token", b"\x04imgarc1.eyJ0IjoiZGVmYXVsdCJ9.x")


def seeds_http_accept():
    """An Accept-Encoding or If-None-Match value, a NUL, then an entity tag
    (fuzz_http_accept.c)."""
    tag = '"0123456789abcdef0123456789abcdef"'
    for name, value in (("chrome", "gzip, deflate, br, zstd"), ("firefox", "gzip, deflate, br"),
                        ("weights", "br;q=1.0, gzip;q=0.5, *;q=0.1"),
                        ("refused", "gzip;q=0, identity"), ("star", "*"),
                        ("star-zero", "identity;q=1, *;q=0"), ("x-gzip", "x-gzip;Q=0.001"),
                        ("broken-q", "gzip;q=1.5, gzip;q=, ;;,"),
                        ("params", " gzip ; level=9 ; q=0.80 ")):
        write("http_accept", "ae-" + name, value)
    for name, value in (("one", tag), ("weak", "W/" + tag), ("list", '"a", W/"b" ,' + tag),
                        ("any", "*"), ("other", '"abc"')):
        write("http_accept", "inm-" + name, value + "\0" + tag)
    write("http_accept", "inm-weak-tag", '"x", W/"y"\0W/"y"')


def main():
    seeds_http_accept()
    seeds_einvoice()
    seeds_sealed()
    seeds_command_apply()
    seeds_entry_framing()
    seeds_snapshot()
    seeds_store_ready()
    seeds_on_disk(write)
    seeds_license()
    seeds_peer_headers()
    seeds_raft_handshake()
    seeds_outbound()
    seeds_peer_answer()
    seeds_propose_result()
    seeds_recognition_answer()
    seeds_json_stream()
    seeds_blob_chunks()
    seeds_pdf_pages()
    seeds_http_request()
    seeds_tls_accept()
    seeds_json_bodies()
    seeds_vendor_answer()


if __name__ == "__main__":
    main()
