#!/usr/bin/env python3
"""Independent verifier for a Procura journal export, written from docs/journal.md alone.

Usage: procura journal export [--since N] | python3 docs/verify_journal.py [--json]
       procura journal export | python3 docs/verify_journal.py [--json] [--key VKEY]... [--checkpoint FILE]...
       python3 docs/verify_journal.py [--json] --inclusion PROOF.json --entry-hash HEX --checkpoint FILE --key VKEY...
       python3 docs/verify_journal.py [--json] --consistency PROOF.json --checkpoint OLD --checkpoint NEW --key VKEY...
       python3 docs/verify_journal.py [--json] --excerpt [--key VKEY]... < EXCERPT.jsonl
       python3 docs/verify_journal.py --self-test
Exit 0 when the export (or the proof) is intact, 1 naming the first problem, 2 on a usage
error or unreadable input. It applies the checks of docs/journal.md in the documented order
and prints the verdict that `procura journal verify --export FILE` prints. `--key` takes a
verifier key (`name+hash+key`) or `@FILE` holding one key a line. Standard library only.
"""
import base64
import hashlib
import json
import re
import sys

GENESIS = "0" * 64
FORMAT = "procura-journal-export-1"
HEADER = ["format", "head_hash", "head_seq", "prev_hash", "since"]
ENTRY = ["seq", "at", "action", "actor", "structure", "usager", "mandate",
         "authorisation", "client", "details", "prev_hash", "hash"]
REFS = ["actor", "structure", "usager", "mandate", "authorisation", "client"]
AT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
MAX_LINE_DEPTH, MAX_DETAILS_DEPTH = 100, 32


class Problem(Exception):
    def __init__(self, seq, kind, message):
        super().__init__(message)
        self.seq, self.kind, self.message = seq, kind, message


class NotInteger:
    """A JSON number with a fraction or an exponent, `-0`, or out of the 64-bit range."""


def parse_int(text):
    if INTEGER.fullmatch(text) and text != "-0" and -2**63 <= int(text) < 2**63:
        return int(text)
    if float(text) in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return NotInteger()


def parse_float(text):
    if float(text) in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return NotInteger()


def no_constant(name):
    raise ValueError(f"{name} is not JSON")


def nesting(text):
    depth = deepest = 0
    in_string = escaped = False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth = max(depth - 1, 0)
    return deepest


def surrogates(v):
    if isinstance(v, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in v)
    if isinstance(v, list):
        return any(surrogates(x) for x in v)
    if isinstance(v, dict):
        return any(surrogates(k) or surrogates(x) for k, x in v.items())
    return False


def parse_object(raw):
    """The line as a JSON object, or a ValueError saying why it is malformed."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("it is not UTF-8")
    if text.endswith("\r"):
        raise ValueError("it ends with CR (CRLF line ending)")
    if nesting(text) > MAX_LINE_DEPTH:
        raise ValueError(f"it nests deeper than {MAX_LINE_DEPTH} levels")
    try:
        v = json.loads(text, parse_int=parse_int, parse_float=parse_float,
                       parse_constant=no_constant)
    except ValueError as exc:
        raise ValueError(f"it is not JSON ({exc})")
    if surrogates(v):
        raise ValueError("it is not JSON (a lone surrogate)")
    if not isinstance(v, dict):
        raise ValueError("it is not a JSON object")
    return v


def is_int(v):
    return type(v) is int


def dumps(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def details_problem(v, level=1):
    """Why a details value is not allowed: floats, big numbers, keys, depth."""
    if isinstance(v, NotInteger):
        return "a number is not an integer from -2^63 to 2^63-1"
    if isinstance(v, (list, dict)) and level > MAX_DETAILS_DEPTH:
        return f"details nest deeper than {MAX_DETAILS_DEPTH} levels"
    if isinstance(v, list):
        return next((p for p in (details_problem(x, level + 1) for x in v) if p), None)
    if isinstance(v, dict):
        for k, x in v.items():
            if not k or not k.isascii():
                return f"detail key {k!r} is not ASCII"
            p = details_problem(x, level + 1)
            if p:
                return p
    return None


def header_line(h):
    return dumps({k: h[k] for k in HEADER})


def read_header(raw):
    h = parse_object(raw)
    if sorted(h) != HEADER:
        raise ValueError("its members are not exactly " + ", ".join(HEADER))
    if h["format"] != FORMAT:
        raise ValueError(f"its format is not {FORMAT!r}")
    if not is_int(h["since"]) or not is_int(h["head_seq"]):
        raise ValueError("since or head_seq is not an integer")
    if not isinstance(h["prev_hash"], str) or not isinstance(h["head_hash"], str):
        raise ValueError("prev_hash or head_hash is not a string")
    if h["since"] < 1 or h["head_seq"] < 0 or h["since"] > h["head_seq"] + 1:
        raise ValueError("since is not from 1 to head_seq + 1")
    if h["since"] == 1 and h["prev_hash"] != GENESIS:
        raise ValueError("an export since 1 must start from the genesis value")
    if header_line(h).encode("utf-8") != raw:
        raise ValueError("it is not in canonical form")
    return h


def form_problem(e, raw):
    """Why a readable entry line is not canonical, or None."""
    if sorted(e) != sorted(ENTRY):
        return "its members are not exactly those of an entry"
    for k in ["at", "action", "prev_hash", "hash"]:
        if not isinstance(e[k], str):
            return f"its {k} is not a string"
    for k in REFS:
        if e[k] is not None and not isinstance(e[k], str):
            return f"its {k} is neither a string nor null"
    if not isinstance(e["details"], dict):
        return "its details are not an object"
    p = details_problem(e["details"])
    if p:
        return f"its details are not allowed ({p})"
    line = "{" + ",".join(f'"{k}":' + dumps(e[k]) for k in ENTRY) + "}"
    if line.encode("utf-8") != raw:
        return "its line is not in canonical form"
    if not AT.fullmatch(e["at"]):
        return f"its time {e['at']!r} is not in the journal's form"
    return None


def canonical(entry):
    body = {k: v for k, v in entry.items() if k != "hash"}
    return dumps(body).encode("utf-8")


def verify(lines, roots=None):
    """The report of docs/journal.md for an export given as a list of lines (bytes).

    `roots`, when given, maps tree sizes to None: each size reached is given the tree hash
    of entries 1 to that size (an export since 1), computed in the same pass."""
    report = {"intact": False, "entries": 0, "last_seq": 0, "last_hash": GENESIS}
    wanted, tree = sorted(roots or ()), CompactRange()
    while wanted and wanted[0] == 0:
        roots[wanted.pop(0)] = tree.root()
    try:
        if not lines:
            raise ValueError("the export is empty: it has no header line")
        h = read_header(lines[0])
    except ValueError as exc:
        report["problem"] = {"seq": 0, "kind": "malformed",
                             "message": f"the header line is malformed: {exc}"}
        return report
    expected, prev = h["since"], h["prev_hash"]
    seen = {prev: h["since"] - 1} if h["since"] > 1 else {}
    try:
        for raw in lines[1:]:
            report["entries"] += 1
            try:
                e = parse_object(raw)
                if "seq" not in e:
                    raise ValueError("it has no seq")
                if not is_int(e["seq"]):
                    raise ValueError("its seq is not an integer")
            except ValueError as exc:
                raise Problem(expected, "malformed",
                              f"the line of entry {expected} is malformed: {exc}")
            seq = e["seq"]
            if seq > expected:
                raise Problem(expected, "missing", f"entry {expected} is missing")
            if seq < expected:
                raise Problem(seq, "reordered", f"entry {seq} appears after entry {expected - 1}")
            why = form_problem(e, raw)
            if why:
                raise Problem(seq, "altered", f"entry {seq} was altered: {why}")
            if hashlib.sha256(canonical(e)).hexdigest() != e["hash"]:
                raise Problem(seq, "altered", f"entry {seq} was altered: its content does not match its hash")
            if e["prev_hash"] != prev:
                if e["prev_hash"] in seen:
                    raise Problem(seq, "reordered", f"entry {seq} links to entry {seen[e['prev_hash']]}")
                raise Problem(seq, "broken_link", f"entry {seq} does not link to entry {seq - 1}")
            prev, expected = e["hash"], expected + 1
            seen[prev] = seq
            if wanted:
                tree.append(leaf_hash(bytes.fromhex(prev)))
                while wanted and wanted[0] == tree.size:
                    roots[wanted.pop(0)] = tree.root()
        last = expected - 1
        if h["head_seq"] > last:
            raise Problem(last + 1, "missing", f"entry {last + 1} is missing (the chain head is at {h['head_seq']})")
        if h["head_seq"] < last:
            raise Problem(h["head_seq"] + 1, "head_mismatch", "entries are beyond the chain head")
        if h["head_hash"] != prev:
            raise Problem(last, "head_mismatch", f"entry {last} differs from the chain head")
    except Problem as p:
        report["problem"] = {"seq": p.seq, "kind": p.kind, "message": p.message}
    else:
        report["intact"], report["problem"] = True, None
    report["last_seq"], report["last_hash"] = expected - 1, prev
    return report


# --- The tree (RFC 9162, section 2.1) -------------------------------------------------------

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


class CompactRange:
    """The leaves appended so far as the hashes of their perfect subtrees, left to right,
    heights decreasing (the binary digits of the size): O(log n) memory."""

    def __init__(self):
        self.size, self.stack = 0, []

    def append(self, leaf):
        height, h = 0, leaf
        while self.stack and self.stack[-1][0] == height:
            h = node_hash(self.stack.pop()[1], h)
            height += 1
        self.stack.append((height, h))
        self.size += 1

    def root(self):
        """MTH of the leaves appended so far: the subtrees hashed together from the right."""
        if not self.stack:
            return EMPTY_ROOT
        r = self.stack[-1][1]
        for _, h in reversed(self.stack[:-1]):
            r = node_hash(h, r)
        return r


def verify_inclusion(index, size, leaf, path, root):
    """RFC 9162, 2.1.3.2: `path` proves that `leaf` (a leaf hash) is leaf `index` of the
    tree of `size` leaves whose hash is `root`."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_hash, second_hash, path):
    """RFC 9162, 2.1.4.2: `path` proves that the tree of `second` leaves hashed
    `second_hash` extends the tree of `first` leaves hashed `first_hash`. A tree extends
    itself (empty path, equal hashes) and extends the empty tree (empty path, `first_hash`
    the hash of the empty tree)."""
    if first > second:
        return False
    if first == second:
        return not path and first_hash == second_hash
    if first == 0:
        return not path and first_hash == EMPTY_ROOT
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_hash] + list(path)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_hash and sr == second_hash and sn == 0


# --- Ed25519 verification (RFC 8032, sections 5.1 and 6) ------------------------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def point_add(p, q):
    """Extended homogeneous coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, x*y = T/Z."""
    a, b = (p[1] - p[0]) * (q[1] - q[0]) % P, (p[1] + p[0]) * (q[1] + q[0]) % P
    c, d = 2 * p[3] * q[3] * D % P, 2 * p[2] * q[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def point_mul(s, p):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = point_add(q, p)
        p = point_add(p, p)
        s >>= 1
    return q


def point_equal(p, q):
    return (p[0] * q[2] - q[0] * p[2]) % P == 0 and (p[1] * q[2] - q[1] * p[2]) % P == 0


def recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P)
    if x2 % P == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if x & 1 != sign:
        x = P - x
    return x


def point_compress(p):
    zinv = pow(p[2], P - 2, P)
    x, y = p[0] * zinv % P, p[1] * zinv % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def point_decompress(s):
    """The point encoded by 32 bytes, or None (y >= p, or no x)."""
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


G_Y = 4 * pow(5, P - 2, P) % P
G = (recover_x(G_Y, 0), G_Y, 1, recover_x(G_Y, 0) * G_Y % P)


def sha512_int(data):
    return int.from_bytes(hashlib.sha512(data).digest(), "little")


def ed25519_verify(public, message, signature):
    """RFC 8032 pure Ed25519: [S]B = R + [k]A, with A and R decoded and S < L."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a = point_decompress(public)
    r = point_decompress(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= L:
        return False
    k = sha512_int(signature[:32] + public + message) % L
    return point_equal(point_mul(s, G), point_add(r, point_mul(k, a)))


def ed25519_sign(secret, message):
    """RFC 8032 signing, for the self-test only. Returns (public key, signature)."""
    h = hashlib.sha512(secret).digest()
    a = int.from_bytes(h[:32], "little") & ((1 << 254) - 8) | (1 << 254)
    public = point_compress(point_mul(a, G))
    r = sha512_int(h[32:] + message) % L
    rs = point_compress(point_mul(r, G))
    s = (r + sha512_int(rs + public + message) % L * a) % L
    return public, rs + s.to_bytes(32, "little")


# --- Keys, signed notes and checkpoints (C2SP signed-note, tlog-checkpoint) -----------------

B64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
SIZE = re.compile(r"0|[1-9][0-9]*")
KEY_HASH = re.compile(r"[0-9a-f]{8}")
WHITE_SPACE = {chr(c) for c in [*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680,
                                *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]}
SIG_PREFIX = "\u2014 "
ALG_ED25519 = 1


def b64decode(text):
    """Standard base64 with padding, in its one canonical form; None otherwise."""
    if not isinstance(text, str) or not B64.fullmatch(text):
        return None
    data = base64.b64decode(text)
    return data if base64.b64encode(data).decode("ascii") == text else None


def b64encode(data):
    return base64.b64encode(data).decode("ascii")


def valid_name(name):
    return name != "" and "+" not in name and not any(c in WHITE_SPACE for c in name)


def key_hash(name, public):
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public).digest()[:4]


class Key:
    def __init__(self, name, public):
        self.name, self.public, self.hash = name, public, key_hash(name, public)

    def vkey(self):
        return f"{self.name}+{self.hash.hex()}+{b64encode(bytes([ALG_ED25519]) + self.public)}"


def parse_vkey(text):
    """A verifier key `<name>+<8 hex digits>+<base64(0x01 || public key)>`, or a ValueError."""
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise ValueError("it is not of the form name+hash+key")
    name, hash_hex, b64 = parts
    if not valid_name(name):
        raise ValueError("its name is empty or holds a space or a plus sign")
    if not KEY_HASH.fullmatch(hash_hex):
        raise ValueError("its hash is not 8 lowercase hexadecimal digits")
    raw = b64decode(b64)
    if raw is None or len(raw) != 33 or raw[0] != ALG_ED25519:
        raise ValueError("its key is not base64 of 0x01 and 32 bytes")
    point = point_decompress(raw[1:])
    if point is None:
        raise ValueError("its key is not an Ed25519 public key")
    if point_equal(point_mul(8, point), (0, 1, 1, 0)):
        raise ValueError("its key has a small order (it would verify forged signatures)")
    key = Key(name, raw[1:])
    if key.hash.hex() != hash_hex:
        raise ValueError("its hash does not match its name and key")
    return key


def parse_note(data):
    """A signed note as (text, [(key name, key hash, signature)]), or a ValueError."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("it is not UTF-8")
    if any(c < " " and c != "\n" for c in text):
        raise ValueError("it holds a control character other than LF")
    split = text.find("\n\n")
    if split < 0:
        raise ValueError("it has no blank line before its signatures")
    body, block = text[:split + 1], text[split + 2:]
    if not block:
        raise ValueError("it has no signature line")
    if not block.endswith("\n"):
        raise ValueError("its last line does not end with LF")
    sigs = []
    for line in block[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise ValueError("a signature line does not start with an em dash and a space")
        fields = line[len(SIG_PREFIX):].split(" ")
        if len(fields) != 2 or not valid_name(fields[0]):
            raise ValueError("a signature line is not a key name, a space and a signature")
        raw = b64decode(fields[1])
        if raw is None or len(raw) < 5:
            raise ValueError("a signature is not base64 of a key hash and a signature")
        sigs.append((fields[0], raw[:4], raw[4:]))
    return body, sigs


class Checkpoint:
    def __init__(self, data, keys):
        """A checkpoint signed by one of `keys` whose name is its origin, or a ValueError."""
        body, self.sigs = parse_note(data)
        lines = body[:-1].split("\n")
        if len(lines) != 3:
            raise ValueError("its body is not three lines (origin, size, root hash)")
        self.origin, size, root = lines
        if not SIZE.fullmatch(size) or int(size) >= 2**63:
            raise ValueError(f"its size {size!r} is not a decimal integer")
        self.size, self.root = int(size), b64decode(root)
        if self.root is None or len(self.root) != 32:
            raise ValueError("its root hash is not base64 of 32 bytes")
        self.body = body.encode("utf-8")
        self.keys = [k for k in keys if k.name == self.origin]
        if not self.keys:
            raise ValueError(f"its origin {self.origin!r} is not the name of a trusted key")

    def signed(self):
        """A signature line of a trusted key (name and hash) verifies; others are ignored."""
        return any(name == k.name and khash == k.hash and ed25519_verify(k.public, self.body, sig)
                   for name, khash, sig in self.sigs for k in self.keys)


def read_checkpoint(path, data, keys):
    """(checkpoint, None) or (None, problem) for the checkpoint file `path`."""
    try:
        return Checkpoint(data, keys), None
    except ValueError as exc:
        return None, ("checkpoint_malformed", f"checkpoint {path} is malformed: {exc}")


def signature_problem(path, cp):
    if cp.signed():
        return None
    return ("checkpoint_signature",
            f"checkpoint {path} (size {cp.size}) has no valid signature by a trusted key")


def check_checkpoints(report, checkpoints, roots):
    """The checkpoint checks of docs/journal.md, after an intact chain (an export since 1)."""
    for path, cp, problem in checkpoints:
        if problem:
            return problem_at(report, 0, *problem)
    last = report["last_seq"]
    for path, cp, _ in sorted(checkpoints, key=lambda c: c[1].size):
        problem = signature_problem(path, cp)
        if problem:
            return problem_at(report, cp.size, *problem)
        if cp.size > last:
            return problem_at(report, last + 1, "checkpoint_beyond_head",
                              f"checkpoint {path} is at size {cp.size}, beyond the last entry "
                              f"{last}: the journal was cut, or its head moved back")
        if roots[cp.size] != cp.root:
            return problem_at(report, cp.size, "checkpoint_root",
                              f"checkpoint {path}: entries 1 to {cp.size} do not have its root "
                              f"hash: they changed after it was signed")
        report["checkpoints"] += 1


def problem_at(report, seq, kind, message):
    report["intact"] = False
    report["problem"] = {"seq": seq, "kind": kind, "message": message}


# --- Proofs ---------------------------------------------------------------------------------

def read_proof(data, members):
    """A proof's JSON object: `members` integers >= 0, `hashes` base64 of 32 bytes."""
    v = parse_object(data.strip(b" \t\r\n"))
    if sorted(v) != sorted(members + ["hashes"]):
        raise ValueError("its members are not exactly " + ", ".join(members + ["hashes"]))
    for k in members:
        if not is_int(v[k]) or v[k] < 0:
            raise ValueError(f"its {k} is not an integer >= 0")
    if not isinstance(v["hashes"], list):
        raise ValueError("its hashes are not an array")
    hashes = [b64decode(h) for h in v["hashes"]]
    if any(h is None or len(h) != 32 for h in hashes):
        raise ValueError("a hash is not base64 of 32 bytes")
    return v, hashes


def verify_inclusion_proof(proof_path, proof_data, entry_hash, cp_path, cp_data, keys):
    report = {"intact": False, "leaf_index": None, "tree_size": None, "problem": None}
    proof = hashes = None
    try:
        proof, hashes = read_proof(proof_data, ["leaf_index", "tree_size"])
        report["leaf_index"], report["tree_size"] = proof["leaf_index"], proof["tree_size"]
        bad_proof = None
    except ValueError as exc:
        bad_proof = ("malformed", f"the proof {proof_path} is malformed: {exc}")
    cp, problem = read_checkpoint(cp_path, cp_data, keys)
    problem = (problem or signature_problem(cp_path, cp) or bad_proof
               or inclusion_problem(proof, hashes, entry_hash, cp_path, cp))
    if problem:
        report["problem"] = {"kind": problem[0], "message": problem[1]}
    else:
        report["intact"] = True
    return report


def inclusion_problem(proof, hashes, entry_hash, cp_path, cp):
    index, size = proof["leaf_index"], proof["tree_size"]
    if size != cp.size:
        why = f"the proof is for the tree of size {size}, the checkpoint's is {cp.size}"
    elif index >= size:
        why = f"leaf {index} is not in a tree of {size} leaves"
    elif not verify_inclusion(index, size, leaf_hash(entry_hash), hashes, cp.root):
        why = f"the proof does not lead from entry {index + 1}'s hash to the checkpoint's root"
    else:
        return None
    return ("inclusion_invalid", f"{why} ({cp_path})")


def verify_consistency_proof(proof_path, proof_data, cps, keys):
    report = {"intact": False, "from": None, "to": None, "problem": None}
    proof = hashes = None
    try:
        proof, hashes = read_proof(proof_data, ["from", "to"])
        report["from"], report["to"] = proof["from"], proof["to"]
        bad_proof = None
    except ValueError as exc:
        bad_proof = ("malformed", f"the proof {proof_path} is malformed: {exc}")
    problem, read = None, []
    for path, data in cps:
        cp, problem = read_checkpoint(path, data, keys)
        problem = problem or signature_problem(path, cp)
        if problem:
            break
        read.append(cp)
    problem = problem or bad_proof or consistency_problem(proof, hashes, cps, *read)
    if problem:
        report["problem"] = {"kind": problem[0], "message": problem[1]}
    else:
        report["intact"] = True
    return report


def consistency_problem(proof, hashes, cps, old, new):
    (old_path, _), (new_path, _) = cps
    if old.origin != new.origin:
        why = f"{old_path} is of {old.origin!r}, {new_path} of {new.origin!r}"
    elif old.size > new.size:
        why = f"{old_path} (size {old.size}) is larger than {new_path} (size {new.size})"
    elif (proof["from"], proof["to"]) != (old.size, new.size):
        why = (f"the proof is from size {proof['from']} to {proof['to']}, "
               f"the checkpoints are at sizes {old.size} and {new.size}")
    elif not verify_consistency(old.size, new.size, old.root, new.root, hashes):
        why = (f"the tree of {new_path} (size {new.size}) does not extend "
               f"the tree of {old_path} (size {old.size})")
    else:
        return None
    return ("checkpoint_inconsistent", why)


# --- Command line ---------------------------------------------------------------------------

class Usage(Exception):
    """A usage error, or input that cannot be read (exit 2)."""


class Unreadable(Usage):
    pass


def read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise Unreadable(f"cannot read {path}: {exc.strerror}")


def read_keys(values):
    keys = []
    for value in values:
        if value.startswith("@"):
            try:
                texts = read_file(value[1:]).decode("utf-8").split("\n")
            except UnicodeDecodeError:
                raise Unreadable(f"{value[1:]} is not UTF-8")
            texts = [t.strip() for t in texts if t.strip()]
            if not texts:
                raise Unreadable(f"{value[1:]} holds no key")
        else:
            texts = [value]
        for text in texts:
            try:
                keys.append(parse_vkey(text))
            except ValueError as exc:
                raise Usage(f"the key {text!r} is malformed: {exc}")
    return keys


def parse_args(argv):
    opts = {"json": False, "self_test": False, "excerpt": False, "key": [], "checkpoint": [],
            "inclusion": None, "consistency": None, "entry_hash": None}
    args = list(argv)
    while args:
        arg = args.pop(0)
        name, eq, value = arg.partition("=")
        if name in ("--json", "--self-test", "--excerpt"):
            flag = name[2:].replace("-", "_")
            if eq or opts[flag]:
                raise Usage(f"{name} is given twice or with a value")
            opts[flag] = True
        elif name in ("--key", "--checkpoint", "--inclusion", "--consistency", "--entry-hash"):
            if not eq:
                if not args:
                    raise Usage(f"{name} needs a value")
                value = args.pop(0)
            option = name[2:].replace("-", "_")
            if isinstance(opts[option], list):
                opts[option].append(value)
            elif opts[option] is not None:
                raise Usage(f"{name} is given twice")
            else:
                opts[option] = value
        else:
            raise Usage(f"unknown argument {arg!r}")
    if opts["self_test"] and argv != ["--self-test"]:
        raise Usage("--self-test takes no other argument")
    if opts["excerpt"] and (opts["checkpoint"] or opts["inclusion"] is not None
                            or opts["consistency"] is not None):
        raise Usage("--excerpt takes no --checkpoint, --inclusion or --consistency: "
                    "the excerpt carries its checkpoint")
    if opts["inclusion"] is not None and opts["consistency"] is not None:
        raise Usage("--inclusion and --consistency are exclusive")
    if (opts["entry_hash"] is None) != (opts["inclusion"] is None):
        raise Usage("--inclusion and --entry-hash go together")
    if opts["inclusion"] is not None and len(opts["checkpoint"]) != 1:
        raise Usage("--inclusion needs exactly one --checkpoint")
    if opts["consistency"] is not None and len(opts["checkpoint"]) != 2:
        raise Usage("--consistency needs two --checkpoint, the old one first")
    if opts["checkpoint"] and not opts["key"]:
        raise Usage("a checkpoint is checked against the keys given with --key")
    if opts["entry_hash"] is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", opts["entry_hash"]):
        raise Usage("--entry-hash takes the entry's hash, 64 hexadecimal digits")
    return opts


def print_usage():
    print("\n".join(__doc__.strip().splitlines()[2:8]), file=sys.stderr)


def main(argv):
    try:
        opts = parse_args(argv)
        if opts["self_test"]:
            return self_test()
        keys = read_keys(opts["key"])
        cps = [(path, read_file(path)) for path in opts["checkpoint"]]
        if opts["excerpt"]:
            return print_excerpt_report(opts, verify_excerpt(sys.stdin.buffer.read(), keys or None))
        if opts["inclusion"] is not None:
            path = opts["inclusion"]
            r = verify_inclusion_proof(path, read_file(path), bytes.fromhex(opts["entry_hash"]),
                                       *cps[0], keys)
        elif opts["consistency"] is not None:
            path = opts["consistency"]
            r = verify_consistency_proof(path, read_file(path), cps, keys)
        else:
            return verify_export(opts, cps, keys)
    except Usage as exc:
        print(f"verify_journal.py: {exc}", file=sys.stderr)
        if not isinstance(exc, Unreadable):
            print_usage()
        return 2
    if opts["json"]:
        print(json.dumps(r, ensure_ascii=False))
    elif r["intact"] and "leaf_index" in r:
        print(f"intact: entry {r['leaf_index'] + 1} is in the tree of size {r['tree_size']} "
              f"of the checkpoint")
    elif r["intact"]:
        print(f"intact: the tree of size {r['to']} extends the tree of size {r['from']}")
    else:
        print(f"not intact: {r['problem']['kind']}: {r['problem']['message']}")
    return 0 if r["intact"] else 1


def verify_export(opts, cps, keys):
    data = sys.stdin.buffer.read()
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    if cps and lines:
        try:
            since = read_header(lines[0])["since"]
        except ValueError:
            since = 1  # the header is malformed: the chain check reports it
        if since != 1:
            raise Usage(f"checkpoints need a whole export (since 1), not one since {since}: "
                        f"run procura journal export without --since")
    checkpoints = [(path, *read_checkpoint(path, data, keys)) for path, data in cps]
    roots = {cp.size: None for _, cp, _ in checkpoints if cp}
    r = verify(lines, roots)
    r["checkpoints"] = 0
    if r["intact"] and checkpoints:
        check_checkpoints(r, checkpoints, roots)
    if opts["json"]:
        print(json.dumps(r, ensure_ascii=False))
    elif r["intact"]:
        print(f"intact: {r['entries']} entries checked, last seq {r['last_seq']}, "
              f"last hash {r['last_hash']}")
    else:
        p = r["problem"]
        print(f"not intact: {p['kind']} at seq {p['seq']}: {p['message']} "
              f"({r['entries']} entries checked)")
    if r["checkpoints"] > 0 and not opts["json"]:
        print(f"checkpoints: {r['checkpoints']} verified")
    return 0 if r["intact"] else 1


# --- Excerpts (docs/journal.md, "Excerpts") -------------------------------------------------

EXCERPT_FORMAT = "procura-journal-excerpt-1"
EXCERPT_HEADER = ["checkpoint", "filters", "format", "key", "size"]


def read_excerpt_header(raw, keys):
    """(checkpoint, size) from the header line, or a Problem."""
    def malformed(why):
        return Problem(0, "malformed", f"the header line is malformed: {why}")
    try:
        h = parse_object(raw)
    except ValueError as exc:
        raise malformed(exc)
    if sorted(h) != EXCERPT_HEADER:
        raise malformed("its members are not exactly " + ", ".join(EXCERPT_HEADER))
    if h["format"] != EXCERPT_FORMAT:
        raise malformed(f"its format is not {EXCERPT_FORMAT!r}")
    if not isinstance(h["checkpoint"], str) or not isinstance(h["key"], str):
        raise malformed("checkpoint or key is not a string")
    if not is_int(h["size"]) or not 0 <= h["size"] < 2**63:
        raise malformed("its size is not an integer from 0")
    if not isinstance(h["filters"], dict) or not all(isinstance(v, str) for v in h["filters"].values()):
        raise malformed("its filters are not an object of strings")
    if dumps(h).encode("utf-8") != raw:
        raise malformed("it is not in canonical form")
    if keys is None:
        try:
            keys = [parse_vkey(h["key"])]
        except ValueError as exc:
            raise malformed(f"its key is not a verifier key ({exc})")
    try:
        cp = Checkpoint(h["checkpoint"].encode("utf-8"), keys)
    except ValueError as exc:
        raise Problem(0, "checkpoint_malformed", f"the header's checkpoint is malformed: {exc}")
    if cp.size != h["size"]:
        raise malformed(f"its size {h['size']} is not its checkpoint's ({cp.size})")
    if not cp.signed():
        raise Problem(cp.size, "checkpoint_signature",
                      f"the checkpoint of size {cp.size} has no valid signature by a trusted key")
    return cp, h["size"]


def check_excerpt_line(raw, last, cp):
    """The seq of a good excerpt line after entry `last`, or a Problem."""
    def malformed(seq, why):
        return Problem(seq, "malformed", f"the line after entry {last} is malformed: {why}")
    try:
        v = parse_object(raw)
    except ValueError as exc:
        raise malformed(last + 1, exc)
    if sorted(v) != ["entry", "proof"]:
        raise malformed(last + 1, "its members are not exactly entry, proof")
    e = v["entry"]
    if not isinstance(e, dict):
        raise malformed(last + 1, "its entry is not an object")
    if "seq" not in e:
        raise malformed(last + 1, "its entry has no seq")
    if not is_int(e["seq"]):
        raise malformed(last + 1, "its entry's seq is not an integer")
    proof = v["proof"]
    hashes = [b64decode(h) for h in proof] if isinstance(proof, list) else None
    if hashes is None or any(h is None or len(h) != 32 for h in hashes):
        raise malformed(last + 1, "its proof is not an array of base64 hashes of 32 bytes")
    seq = e["seq"]
    if seq < 1 or seq > cp.size:
        raise malformed(seq, f"entry {seq} is not in the checkpoint's tree (entries 1 to {cp.size})")
    if seq <= last:
        raise Problem(seq, "reordered", f"entry {seq} appears after entry {last}")
    prefix, suffix = b'{"entry":', b',"proof":' + dumps(proof).encode("utf-8") + b"}"
    # The entry's text: between the prefix and the last `,"proof":` (a proof holds no quote).
    cut = raw.rfind(b',"proof":')
    entry_raw = raw[len(prefix):cut] if raw.startswith(prefix) and cut > 0 else None
    why = None
    if entry_raw is None or prefix + entry_raw + suffix != raw:
        why = "its line is not in canonical form"
    else:
        why = form_problem(e, entry_raw)
    if why:
        raise Problem(seq, "altered", f"entry {seq} was altered: {why}")
    if hashlib.sha256(canonical(e)).hexdigest() != e["hash"]:
        raise Problem(seq, "altered", f"entry {seq} was altered: its content does not match its hash")
    if not verify_inclusion(seq - 1, cp.size, leaf_hash(bytes.fromhex(e["hash"])), hashes, cp.root):
        raise Problem(seq, "inclusion_invalid",
                      f"the proof does not lead from entry {seq} to the root of the checkpoint "
                      f"of size {cp.size}")
    return seq


def verify_excerpt(data, keys):
    """The verdict on an excerpt; `keys` None: the header's own key is trusted."""
    report = {"intact": False, "entries": 0, "size": None, "problem": None}
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    try:
        if not lines:
            raise Problem(0, "malformed", "the excerpt is empty: it has no header line")
        try:
            cp, report["size"] = read_excerpt_header(lines[0], keys)
        except Problem as p:
            if p.kind != "malformed":
                report["size"] = json.loads(lines[0].decode("utf-8"))["size"]
            raise
        last = 0
        for raw in lines[1:]:
            report["entries"] += 1
            last = check_excerpt_line(raw, last, cp)
    except Problem as p:
        report["problem"] = {"seq": p.seq, "kind": p.kind, "message": p.message}
    else:
        report["intact"] = True
    return report


def print_excerpt_report(opts, r):
    if opts["json"]:
        print(json.dumps(r, ensure_ascii=False))
    elif r["intact"]:
        print(f"intact: {r['entries']} entries, each included in the signed checkpoint "
              f"of size {r['size']}")
    else:
        p = r["problem"]
        print(f"not intact: {p['kind']} at seq {p['seq']}: {p['message']} "
              f"({r['entries']} entries checked)")
    if not opts["key"] and not opts["json"] and r["size"] is not None:
        print("warning: no --key was given, so the checkpoint was checked with the key the "
              "excerpt names itself; check that key out of band (GET /journal/key, or a key "
              "kept elsewhere) before trusting this verdict")
    return 0 if r["intact"] else 1


# --- Self-test ------------------------------------------------------------------------------

RFC8032 = [  # RFC 8032, section 7.1: TEST 1, 2, 3 (secret key, public key, message, signature)
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
]
# golang.org/x/mod/sumdb/note, the reference signed note: its key (seed after 0x01) and note.
GO_SKEY_SEED = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_NOTE = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n\n"
           "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")
# RFC 6962 / transparency-dev test leaves and the roots of their first 0 to 8.
CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
             "606162636465666768696a6b6c6d6e6f"]
CT_ROOTS = ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]
CT_CONSISTENCY_6_8 = ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]
CT_INCLUSION_5_8 = ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]


# The examples of docs/journal.md: the one-entry journal, its tree hash, a key and a checkpoint.
DOC_ENTRY_HASH = "26cfa1356ad3c7db45acd1de84b4ae174a2c8472b0b01ced64310c5a4497fbad"
DOC_EMPTY_ROOT = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
DOC_ROOT = "m9m5DRUFyYaKNIqLAV3ROKuvGMjM/9HxNIf5SlVvZoA="
DOC_PUBLIC = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
DOC_VKEY = "procura.example.fr/journal+8047cc2b+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
DOC_CHECKPOINT = ("procura.example.fr/journal\n1\n" + DOC_ROOT + "\n\n\u2014 procura.example.fr/journal "
                  "gEfMK8TnorztOVM62A7rLdrVqg272cZO9Uot5Z2p68hifCDQeiLmNDOMR+gVCD+jczHnCusNRTd6QmEeqecj2qJQrgA=\n")


def split_point(n):
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves):
    """RFC 9162, 2.1.1: the Merkle Tree Hash of a list of leaf data, by its definition."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = split_point(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def inclusion_path(m, leaves):
    """RFC 9162, 2.1.3.1: PATH(m, D_n)."""
    if len(leaves) == 1:
        return []
    k = split_point(len(leaves))
    if m < k:
        return inclusion_path(m, leaves[:k]) + [mth(leaves[k:])]
    return inclusion_path(m - k, leaves[k:]) + [mth(leaves[:k])]


def consistency_path(m, leaves, whole=True):
    """RFC 9162, 2.1.4.1: PROOF(m, D_n) = SUBPROOF(m, D_n, true)."""
    if m == len(leaves):
        return [] if whole else [mth(leaves)]
    k = split_point(len(leaves))
    if m <= k:
        return consistency_path(m, leaves[:k], whole) + [mth(leaves[k:])]
    return consistency_path(m - k, leaves[k:], False) + [mth(leaves[:k])]


def altered(path):
    """Proofs that differ from `path`: each hash with a bit flipped, one hash less, one more,
    and two neighbours swapped."""
    for i in range(len(path)):
        yield path[:i] + [bytes([path[i][0] ^ 1]) + path[i][1:]] + path[i + 1:]
        if i + 1 < len(path) and path[i] != path[i + 1]:
            yield path[:i] + [path[i + 1], path[i]] + path[i + 2:]
    if path:
        yield path[:-1]
    yield path + [bytes(32)]


def self_test():
    failures, count = [], 0

    def check(ok, what):
        nonlocal count
        count += 1
        if not ok:
            failures.append(what)

    # Ed25519, RFC 8032 section 7.1.
    for n, (secret, public, message, signature) in enumerate(RFC8032, 1):
        secret, public, message, signature = map(bytes.fromhex, (secret, public, message, signature))
        check(ed25519_sign(secret, message) == (public, signature), f"RFC 8032 TEST {n}: sign")
        check(ed25519_verify(public, message, signature), f"RFC 8032 TEST {n}: verify")
        check(not ed25519_verify(public, message + b"x", signature), f"TEST {n}: other message")
        for i in (0, 31, 32, 63):
            bad = signature[:i] + bytes([signature[i] ^ 4]) + signature[i + 1:]
            check(not ed25519_verify(public, message, bad), f"TEST {n}: signature byte {i} altered")
        s = int.from_bytes(signature[32:], "little")
        check(not ed25519_verify(public, message, signature[:32] + (s + L).to_bytes(32, "little")),
              f"TEST {n}: S + L (non-canonical S) rejected")
        check(not ed25519_verify(public[:31] + bytes([public[31] ^ 1]), message, signature),
              f"TEST {n}: other key")
    y = next(y for y in range(2, 100) if recover_x(y, 0) is None)
    undecodable = y.to_bytes(32, "little")
    public, signature = map(bytes.fromhex, RFC8032[0][1:4:2])
    check(point_decompress(undecodable) is None, "a y without x does not decode")
    check(not ed25519_verify(public, b"", undecodable + signature[32:]), "undecodable R rejected")
    check(not ed25519_verify(undecodable, b"", signature), "undecodable A rejected")
    check(point_decompress((P + 1).to_bytes(32, "little")) is None, "y >= p does not decode")
    check(point_decompress((1).to_bytes(32, "little")) == (0, 1, 1, 0), "the neutral point decodes")
    check(point_decompress((1 | 1 << 255).to_bytes(32, "little")) is None, "x = 0 with the sign bit")

    # Keys and signed notes: the reference example of golang.org/x/mod/sumdb/note.
    key = parse_vkey(GO_VKEY)
    check(key.hash.hex() == "c74f20a3" and key.vkey() == GO_VKEY, "reference vkey and key hash")
    seed = b64decode(GO_SKEY_SEED)[1:]
    body, sigs = parse_note(GO_NOTE.encode("utf-8"))
    public, signature = ed25519_sign(seed, body.encode("utf-8"))
    check(public == key.public and sigs == [("PeterNeumann", key.hash, signature)],
          "reference note signed again gives the same signature line")
    check(ed25519_verify(key.public, body.encode("utf-8"), sigs[0][2]), "reference note verifies")
    for bad in ["PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TX",
                "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "PeterNeumann+c74f20a3"]:
        try:
            parse_vkey(bad)
            check(False, f"vkey {bad!r} refused")
        except ValueError:
            check(True, "")

    # The tree, RFC 9162: roots two ways, the reference roots, every proof for sizes 1 to 16.
    ct = [bytes.fromhex(x) for x in CT_LEAVES]
    tree = CompactRange()
    for n in range(len(ct) + 1):
        if n:
            tree.append(leaf_hash(ct[n - 1]))
        check(mth(ct[:n]) == tree.root() == bytes.fromhex(CT_ROOTS[n]), f"root of {n} leaves")
    check(consistency_path(6, ct) == [bytes.fromhex(h) for h in CT_CONSISTENCY_6_8],
          "reference consistency proof 6 to 8")
    check(inclusion_path(5, ct) == [bytes.fromhex(h) for h in CT_INCLUSION_5_8],
          "reference inclusion proof of leaf 5 of 8")
    leaves = [hashlib.sha256(b"entry %d" % i).digest() for i in range(16)]
    tree = CompactRange()
    for n in range(0, 17):
        if n:
            tree.append(leaf_hash(leaves[n - 1]))
        root = mth(leaves[:n])
        check(tree.root() == root, f"streaming root of {n} leaves")
        for m in range(n):
            path = inclusion_path(m, leaves[:n])
            lh = leaf_hash(leaves[m])
            check(verify_inclusion(m, n, lh, path, root), f"inclusion of {m} in {n}")
            check(not verify_inclusion(m, n, lh, path, EMPTY_ROOT), f"inclusion {m}/{n}, other root")
            check(not verify_inclusion(m, n, leaf_hash(b"x"), path, root), f"inclusion {m}/{n}, other leaf")
            for other in {m - 1, m + 1} & set(range(n)):
                check(not verify_inclusion(other, n, lh, path, root), f"inclusion {m}/{n} as {other}")
            check(not verify_inclusion(n, n, lh, path, root), f"inclusion {n}/{n}")
            for bad in altered(path):
                check(not verify_inclusion(m, n, lh, bad, root), f"altered inclusion {m}/{n}")
        for m in range(0, n + 1):
            old = mth(leaves[:m])
            path = consistency_path(m, leaves[:n]) if 0 < m < n else []
            check(verify_consistency(m, n, old, root, path), f"consistency {m} to {n}")
            if n > 0:
                check(not verify_consistency(m, n, leaf_hash(b"x"), root, path),
                      f"consistency {m} to {n}, other old root")
            if m > 0:  # every tree extends the empty one
                check(not verify_consistency(m, n, old, leaf_hash(b"x"), path),
                      f"consistency {m} to {n}, other new root")
            if m < n:
                check(not verify_consistency(n, m, root, old, path), f"consistency {n} to {m}")
            for bad in altered(path):
                check(not verify_consistency(m, n, old, root, bad), f"altered consistency {m} to {n}")

    # The examples of docs/journal.md.
    tree = CompactRange()
    tree.append(leaf_hash(bytes.fromhex(DOC_ENTRY_HASH)))
    check(b64encode(EMPTY_ROOT) == DOC_EMPTY_ROOT, "documented hash of the empty tree")
    check(b64encode(tree.root()) == DOC_ROOT, "documented tree hash of the example journal")
    key = parse_vkey(DOC_VKEY)
    public, signature = ed25519_sign(bytes(range(32)), DOC_CHECKPOINT.split("\n\n")[0].encode() + b"\n")
    check(key.public.hex() == public.hex() == DOC_PUBLIC, "documented key")
    cp = Checkpoint(DOC_CHECKPOINT.encode("utf-8"), [key])
    check(cp.signed() and cp.size == 1 and cp.root == tree.root(), "documented checkpoint verifies")
    check(cp.sigs == [(key.name, key.hash, signature)], "documented checkpoint signed again")
    # The excerpt of the example journal (docs/journal.md, "Excerpts"), and alterations.
    entry = {"seq": 1, "at": "2026-11-28T09:00:00.000000Z", "action": "structure.created",
             "actor": "cli", "structure": "5f0c3a52-8d0e-4d7e-9d55-2f4b1c1e9a10", "usager": None,
             "mandate": None, "authorisation": None, "client": None,
             "details": {"n": 3, "note": "\u00c9lancourt"}, "prev_hash": GENESIS,
             "hash": DOC_ENTRY_HASH}
    entry_line = "{" + ",".join(f'"{k}":' + dumps(entry[k]) for k in ENTRY) + "}"
    header = dumps({"checkpoint": DOC_CHECKPOINT, "filters": {}, "format": EXCERPT_FORMAT,
                    "key": DOC_VKEY, "size": 1})
    excerpt = header + "\n" + '{"entry":' + entry_line + ',"proof":[]}\n'
    for what, data, keys, expected in [
        ("clean", excerpt, None, None),
        ("clean, trusted key", excerpt, [key], None),
        ("header altered", excerpt.replace('"size":1', '"size":2', 1), None, (0, "malformed")),
        ("entry altered", excerpt.replace('"n":3', '"n":4'), None, (1, "altered")),
        ("proof added", excerpt.replace('"proof":[]', '"proof":["' + DOC_ROOT + '"]'), None,
         (1, "inclusion_invalid")),
        ("entry repeated", excerpt + excerpt.split("\n")[1] + "\n", None, (1, "reordered")),
        ("entry beyond", excerpt.replace('{"seq":1,', '{"seq":2,'), None, (2, "malformed")),
        ("another key", excerpt, [Key(key.name, public[:31] + bytes([public[31] ^ 1]))], None),
    ]:
        r = verify_excerpt(data.encode("utf-8"), keys)
        if what == "another key":
            check(r["problem"] is not None and r["problem"]["kind"] in
                  ("checkpoint_signature", "checkpoint_malformed"), f"excerpt: {what}")
        elif expected is None:
            check(r["intact"] and r["entries"] == 1 and r["size"] == 1, f"excerpt: {what}")
        else:
            check(not r["intact"] and (r["problem"]["seq"], r["problem"]["kind"]) == expected,
                  f"excerpt: {what} ({r['problem']})")

    # Checkpoints: signed, then checked against a journal of 5 entries; and malformed ones.
    secret = hashlib.sha256(b"procura self-test key").digest()
    public = ed25519_sign(secret, b"")[0]
    key, origin = Key("procura.example.fr/journal", public), "procura.example.fr/journal"
    other = Key(origin, ed25519_sign(hashlib.sha256(b"other").digest(), b"")[0])

    def note(size, root, signer=(secret, key), extra=""):
        body = f"{origin}\n{size}\n{b64encode(root)}\n"
        sig = ed25519_sign(signer[0], body.encode("utf-8"))[1]
        return (f"{body}\n{extra}{SIG_PREFIX}{signer[1].name} "
                f"{b64encode(signer[1].hash + sig)}\n").encode("utf-8")

    lines, prev = [], GENESIS
    for seq in range(1, 6):
        e = {"seq": seq, "at": "2026-11-28T09:00:00.000000Z", "action": "x", "actor": None,
             "structure": None, "usager": None, "mandate": None, "authorisation": None,
             "client": None, "details": {}, "prev_hash": prev}
        e["hash"] = prev = hashlib.sha256(canonical(e)).hexdigest()
        lines.append(("{" + ",".join(f'"{k}":' + dumps(e[k]) for k in ENTRY) + "}").encode())
    lines.insert(0, header_line({"format": FORMAT, "since": 1, "prev_hash": GENESIS,
                                 "head_seq": 5, "head_hash": prev}).encode())
    hashes = [bytes.fromhex(json.loads(x)["hash"]) for x in lines[1:]]

    def run(notes, keys=(key,)):
        cps = [(f"cp{i}", *read_checkpoint(f"cp{i}", n, list(keys))) for i, n in enumerate(notes)]
        roots = {cp.size: None for _, cp, _ in cps if cp}
        r = verify(lines, roots)
        r["checkpoints"] = 0
        check_checkpoints(r, cps, roots)
        return r["checkpoints"], r["problem"] and (r["problem"]["kind"], r["problem"]["seq"])

    good = [note(n, mth(hashes[:n])) for n in (5, 0, 3, 3)]
    check(run(good) == (4, None), "checkpoints of sizes 0, 3, 3 and 5 verify")
    check(run([good[0]], [other, key]) == (1, None), "a checkpoint verifies among several keys")
    check(run([note(5, mth(hashes[:5]), extra=f"{SIG_PREFIX}someone AAAAAAA=\n")]) == (1, None),
          "a signature of an unknown key is ignored")
    check(run([good[0], note(2, mth(hashes[:3]))]) == (0, ("checkpoint_root", 2)), "wrong root")
    check(run([note(6, mth(hashes[:5]))]) == (0, ("checkpoint_beyond_head", 6)), "beyond the head")
    check(run([good[2], note(4, mth(hashes[:4]), (secret, other))])
          == (1, ("checkpoint_signature", 4)), "signature by an untrusted key")
    forged = note(4, mth(hashes[:4])).replace(b"\n4\n", b"\n5\n")
    check(run([forged]) == (0, ("checkpoint_signature", 5)), "signed body altered")
    text = good[0].decode("utf-8")
    body, sig_line = text.split("\n\n")
    for bad in [text.replace("\n\n", "\n"), body + "\n\n", text + "x", text.replace("\u2014", "-"),
                text.replace(origin, "other.example/journal"), text.replace("\n5\n", "\n05\n"),
                text.replace("\n5\n", "\n5x\n"), body + "\nextension\n\n" + sig_line,
                text.replace("=\n\n", "\n\n"), text.replace("\n", "\r\n"),
                body + "\n\n" + sig_line.replace(" ", "  ", 1), b"\xff" + good[0],
                f"{body}\n\n{SIG_PREFIX}{origin} AQID\n", f"{body}\n\n{SIG_PREFIX}{origin} \n",
                f"{body}\n\n{sig_line}\n\n", f"{body}\n\n{sig_line[:-1]}"]:
        check(run([bad if isinstance(bad, bytes) else bad.encode("utf-8")])
              == (0, ("checkpoint_malformed", 0)), f"malformed checkpoint {bad!r}")

    # Proof files.
    proof = json.dumps({"leaf_index": 3, "tree_size": 5,
                        "hashes": [b64encode(h) for h in inclusion_path(3, hashes)]}).encode()
    r = verify_inclusion_proof("p", proof, hashes[3], "cp", good[0], [key])
    check(r == {"intact": True, "leaf_index": 3, "tree_size": 5, "problem": None}, "inclusion file")
    r = verify_inclusion_proof("p", proof, hashes[2], "cp", good[0], [key])
    check(r["problem"]["kind"] == "inclusion_invalid", "inclusion of another entry")
    r = verify_inclusion_proof("p", proof, hashes[3], "cp", good[2], [key])
    check(r["problem"]["kind"] == "inclusion_invalid", "inclusion against another size")
    r = verify_inclusion_proof("p", b'{"leaf_index":3}', hashes[3], "cp", good[0], [key])
    check(r["problem"]["kind"] == "malformed", "malformed inclusion proof")
    proof = json.dumps({"from": 3, "to": 5,
                        "hashes": [b64encode(h) for h in consistency_path(3, hashes)]}).encode()
    r = verify_consistency_proof("p", proof, [("a", good[2]), ("b", good[0])], [key])
    check(r == {"intact": True, "from": 3, "to": 5, "problem": None}, "consistency file")
    r = verify_consistency_proof("p", proof, [("a", note(3, mth(hashes[1:4]))), ("b", good[0])],
                                 [key])
    check(r["problem"]["kind"] == "checkpoint_inconsistent", "inconsistent checkpoints")
    r = verify_consistency_proof("p", proof, [("a", good[2]), ("b", forged)], [key])
    check(r["problem"]["kind"] == "checkpoint_signature", "consistency, bad signature")

    for what in failures:
        print(f"FAILED: {what}")
    print(f"self-test: {count - len(failures)} of {count} checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
