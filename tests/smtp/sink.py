"""An SMTP sink for Procura's tests, run by aiosmtpd:

    PYTHONPATH=tests/smtp/pydeps:tests/smtp python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c sink.Sink DIR

Each accepted message is written to DIR as <n>.eml (the raw message, the envelope
recipients in an X-Envelope-To header first). Recipients whose local part starts with
"refuse" get a permanent 550, those starting with "later" a transient 451.
"""

import os
import threading

_lock = threading.Lock()


class Sink:
    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("Sink takes one argument: the directory")
        return cls(args[0])

    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        if local.startswith("refuse"):
            return "550 5.1.1 mailbox unavailable"
        if local.startswith("later"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with _lock:
            self.count += 1
            n = self.count
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8")
        head = ("X-Envelope-To: " + ", ".join(envelope.rcpt_tos) + "\r\n").encode()
        tmp = os.path.join(self.directory, f".{n}.tmp")
        with open(tmp, "wb") as f:
            f.write(head + data)
        os.replace(tmp, os.path.join(self.directory, f"{n:06}.eml"))
        return "250 Message accepted for delivery"
