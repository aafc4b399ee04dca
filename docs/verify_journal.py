#!/usr/bin/env python3
"""Independent verifier for a Procura journal export, written from docs/journal.md alone.

Usage: procura journal export [--since N] | python3 docs/verify_journal.py [--json]
Exit 0 when the export is intact, 1 naming the first problem, 2 on a usage error.
It applies the checks of docs/journal.md in the documented order and prints the verdict
that `procura journal verify --export FILE` prints. Standard library only.
"""
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


def verify(lines):
    """The report of docs/journal.md for an export given as a list of lines (bytes)."""
    report = {"intact": False, "entries": 0, "last_seq": 0, "last_hash": GENESIS}
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


def main(argv):
    if argv not in ([], ["--json"]):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    data = sys.stdin.buffer.read()
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    r = verify(lines)
    if argv == ["--json"]:
        print(json.dumps(r, ensure_ascii=False))
    elif r["intact"]:
        print(f"intact: {r['entries']} entries checked, last seq {r['last_seq']}, "
              f"last hash {r['last_hash']}")
    else:
        p = r["problem"]
        print(f"not intact: {p['kind']} at seq {p['seq']}: {p['message']} "
              f"({r['entries']} entries checked)")
    return 0 if r["intact"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
