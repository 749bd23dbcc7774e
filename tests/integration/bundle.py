"""Evidence bundles read and rewritten in Python, independently of selgw's C code: what an
auditor's own tool (or a forger's) does with docs/EVIDENCE.md and docs/RECORD.md in hand.

A Bundle is its header lines and its records; each Record keeps its payload bytes and the
fields a forger touches (chain, position, prev, time, and for seals their heads). rechain()
links every chain anew after records were changed or removed, and signs every seal with a
key of the forger's: what someone without the gateway's key can do at best."""
import base64
import gzip
import hashlib
import struct

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

READING, START, STOP, GAP, SEAL, ANNOTATION, TAGS, CLOCK = range(1, 9)


def blake2b(data):
    return hashlib.blake2b(data, digest_size=32).digest()


class Reader:
    def __init__(self, data, pos=0):
        self.data, self.pos = data, pos

    def take(self, n):
        b = self.data[self.pos:self.pos + n]
        if len(b) != n:
            raise ValueError("payload cut off")
        self.pos += n
        return b

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack("<H", self.take(2))[0]

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def i64(self):
        return struct.unpack("<q", self.take(8))[0]

    def str(self):
        return self.take(self.u16())


def put_str(b):
    return struct.pack("<H", len(b)) + b


class Record:
    def __init__(self, jseq, payload):
        self.jseq = jseq
        self.payload = bytearray(payload)
        r = Reader(self.payload)
        self.format, self.type = r.u8(), r.u8()
        self.chain = r.str().decode()
        self.chain_seq = r.u64()
        self.prev_at = r.pos
        self.prev = r.take(32)
        self.time_ns = r.i64()
        self.gateway = r.str()
        self.body_at = r.pos
        if self.type == ANNOTATION:
            self.plot, self.text, self.ref = r.str(), r.str(), r.str()
        elif self.type == SEAL:
            # format 3: up to when the seal covers every poll, before its heads
            self.covers_until_ns = r.i64() if self.format >= 3 else None
            count = r.u32()
            self.heads = []
            for _ in range(count):
                name = r.str().decode()
                pos = r.u64()
                self.heads.append([name, pos, r.take(32)])

    @property
    def hash(self):
        return blake2b(bytes(self.payload))

    def set_prev(self, prev):
        self.payload[self.prev_at:self.prev_at + 32] = prev
        self.prev = prev

    def set_annotation(self, text, ref=None):
        """Rewrites an annotation's text (and ref): the payload is encoded anew."""
        assert self.type == ANNOTATION
        ref = self.ref if ref is None else ref
        self.payload = self.payload[:self.body_at] + put_str(self.plot) + put_str(text) + \
            put_str(ref)
        self.text, self.ref = text, ref

    def reseal(self, heads, key, covers_until_ns=None):
        """A seal with these heads (and covers_until, kept unless given), signed with key
        (an Ed25519PrivateKey)."""
        assert self.type == SEAL
        if covers_until_ns is not None:
            self.covers_until_ns = covers_until_ns
        body = b"" if self.format < 3 else struct.pack("<q", self.covers_until_ns)
        body += struct.pack("<I", len(heads))
        for name, pos, head in heads:
            body += put_str(name.encode()) + struct.pack("<Q", pos) + head
        unsigned = bytes(self.payload[:self.body_at]) + body
        self.payload = bytearray(unsigned + key.sign(unsigned))
        self.heads = [list(h) for h in heads]


def read_text(path):
    """A bundle file's text: gunzipped when it is gzip (what selgw export writes unless
    --plain), else as it is."""
    with open(path, "rb") as f:
        data = f.read()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def text_hash(text):
    """The bundle hash selgw export and verify print: BLAKE2b-256 of the uncompressed text."""
    return "blake2b-256:" + hashlib.blake2b(text, digest_size=32).hexdigest()


class Bundle:
    def __init__(self, path):
        lines = read_text(path).split(b"\n")
        assert lines[-1] == b""
        self.header = lines[:6]
        self.records = []
        for line in lines[6:-1]:
            if line.startswith(b"end "):
                continue
            tag, jseq, b64 = line.split(b" ", 2)
            assert tag == b"record"
            self.records.append(Record(int(jseq), base64.b64decode(b64, validate=True)))

    def save(self, path, header=None, compress=False):
        out = list(header or self.header)
        for rec in self.records:
            out.append(b"record %d %s" % (rec.jseq, base64.b64encode(bytes(rec.payload))))
        out.append(b"end %d" % len(self.records))
        text = b"\n".join(out) + b"\n"
        with open(path, "wb") as f:
            f.write(gzip.compress(text) if compress else text)

    def chain(self, name):
        return [r for r in self.records if r.chain == name]

    def opening_seal(self):
        return next(r for r in self.records if r.chain == "gateway")

    def remove(self, predicate):
        before = len(self.records)
        self.records = [r for r in self.records if not predicate(r)]
        return before - len(self.records)

    def set_key_line(self, key):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        self.header[1] = b"public-key ed25519:" + raw.hex().encode()
        return raw

    def rechain(self, key):
        """Links every chain anew over changed records and signs every seal with key: the
        forger's whole work. Positions are kept; a seal names the new heads of the chains
        the bundle holds."""
        heads = {}  # chain -> (position, hash) of its last record so far
        for rec in self.records:
            if rec.chain in heads:
                rec.set_prev(heads[rec.chain][1])
            if rec.type == SEAL:
                new_heads = []
                for name, pos, head in rec.heads:
                    if name in heads and heads[name][0] == pos:
                        head = heads[name][1]
                    new_heads.append((name, pos, head))
                rec.reseal(new_heads, key)
            heads[rec.chain] = (rec.chain_seq, rec.hash)


def new_key():
    return Ed25519PrivateKey.generate()
