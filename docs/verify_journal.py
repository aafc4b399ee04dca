#!/usr/bin/env python3
"""Independent verifier for a Procura journal export (docs/journal.md).

Usage: procura journal export | python3 docs/verify_journal.py
Exit 0 when the chain is intact, 1 naming the first bad entry, 2 on unreadable input.
Only the Python standard library is used, so an auditor can read it in full.
"""
import hashlib
import json
import sys

GENESIS = "0" * 64


def canonical(entry):
    body = {k: v for k, v in entry.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def main():
    expected_seq, prev = 1, GENESIS
    first = True
    for n, line in enumerate(sys.stdin, 1):
        try:
            e = json.loads(line)
        except ValueError as exc:
            print(f"line {n}: not JSON ({exc})")
            return 2
        if first and e["seq"] != 1:
            # A partial export (--since): trust the first entry's link, check the rest.
            expected_seq, prev = e["seq"], e["prev_hash"]
        first = False
        if e["seq"] != expected_seq:
            print(f"entry {expected_seq} is missing")
            return 1
        digest = hashlib.sha256(canonical(e).encode("utf-8")).hexdigest()
        if digest != e["hash"]:
            print(f"entry {e['seq']} was altered")
            return 1
        if e["prev_hash"] != prev:
            print(f"entry {e['seq']} does not link to entry {e['seq'] - 1}")
            return 1
        prev, expected_seq = e["hash"], expected_seq + 1
    print(f"intact: {expected_seq - 1} entries, last hash {prev}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
