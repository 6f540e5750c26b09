"""A counting SMTP sink for the mailing benchmark, run in its own process (`python
_smtp_sink.py PORT`) so that the server's work does not share the benchmark's interpreter lock:
aiosmtpd on 127.0.0.1:PORT accepts every message and counts recipients. It prints `ready`
once listening, answers each `count` line on stdin with the recipients received so far, and
stops at `quit` or end of input."""

from __future__ import annotations

import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class Counter:
    def __init__(self) -> None:
        self.recipients = 0

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.recipients += len(envelope.rcpt_tos)
        return "250 2.0.0 OK"


def main() -> None:
    counter = Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    print("ready", flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "count":
                print(counter.recipients, flush=True)
            elif line.strip() == "quit":
                break
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
