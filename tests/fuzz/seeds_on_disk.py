"""Seeds of the fuzz targets whose input is a file a node reads from its data dir
(restore_marker, upload_record) or a header that names such state (upload_metadata);
make_corpus.py calls seeds_on_disk() with its write()."""
import base64
import json


def seeds_restore_marker(write):
    write("restore_marker", "good", b"imgarc-restored 1 index 8123\n")
    write("restore_marker", "max", b"imgarc-restored 1 index 18446744073709551615\n")
    write("restore_marker", "overflow", b"imgarc-restored 1 index 18446744073709551616\n")
    write("restore_marker", "zero", b"imgarc-restored 1 index 0\n")
    write("restore_marker", "leading-zeros", b"imgarc-restored 1 index 0007\n")
    write("restore_marker", "no-newline", b"imgarc-restored 1 index 12")
    write("restore_marker", "minus", b"imgarc-restored 1 index -5\n")
    write("restore_marker", "version-2", b"imgarc-restored 2 index 5\n")
    write("restore_marker", "two-lines", b"imgarc-restored 1 index 5\nmore\n")
    write("restore_marker", "empty", b"")


def seeds_upload_record(write):
    params = {"image_no": "BX-1", "file_id": "f" * 26, "name": "scan.pdf", "name_given": True,
              "category": "invoice", "after": "", "replace": "", "batch": "",
              "barcode_is_cover": False, "invoice": [""] * 6, "recognize": 0}
    rec = {"version": 1, "id": "00000000000000010123456789abcdef", "tenant": "default",
           "actor": "operator", "image_no": "BX-1", "length": 1000, "offset": 300,
           "created": 1796000000000, "expires": 1796086400000, "params": params,
           "result": None}
    write("upload_record", "receiving", json.dumps(rec))
    done = dict(rec, offset=1000, result={"file_id": "f" * 26, "size": 1000})
    write("upload_record", "captured", json.dumps(done))
    write("upload_record", "offset-past-length", json.dumps(dict(rec, offset=1001)))
    write("upload_record", "result-incomplete", json.dumps(dict(done, offset=999)))
    write("upload_record", "version-2", json.dumps(dict(rec, version=2)))
    write("upload_record", "bad-id", json.dumps(dict(rec, id="0123")))
    write("upload_record", "duplicate-key", json.dumps(rec)[:-1] + ', "length": 5}')
    write("upload_record", "not-object", b"[1,2]")


def seeds_upload_metadata(write):
    def b64(v):
        return base64.b64encode(v).decode()
    write("upload_metadata", "raw-tus-js", b"\0filename " + b64(b"scan.pdf").encode() +
          b",filetype " + b64(b"application/pdf").encode())
    write("upload_metadata", "raw-empty-value", b"\0is_confidential,filename " +
          b64(b"a.bin").encode())
    write("upload_metadata", "raw-bad-b64", b"\0filename ***")
    write("upload_metadata", "raw-repeated", b"\0filename YQ==,filename Yg==")
    write("upload_metadata", "built", b"\1scan.pdf\xffapplication/pdf\xff\xffx")


def seeds_on_disk(write):
    seeds_restore_marker(write)
    seeds_upload_record(write)
    seeds_upload_metadata(write)
