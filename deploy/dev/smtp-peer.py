#!/usr/bin/env python3
"""Local SMTP servers for the tests: aiosmtpd, the real protocol peer (delivery-channels.md §1).

  --port P        STARTTLS required (the stack's test CA), AUTH PLAIN/LOGIN required (user `notify`, the password
                  in $SMTP_PEER_PASSWORD), every accepted message written to the Maildir --maildir.
  --plain-port Q  a server that offers neither STARTTLS nor AUTH (for "TLS required but not offered").

Recipients steer the server, so tests can inject replies per message: a local part starting with `reject` gets
550 at RCPT; `tempfail<N>` gets 451 at RCPT on its first N attempts (counted per address), then is accepted.
"""
import argparse, asyncio, collections, mailbox, os, signal, ssl

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

attempts = collections.Counter()


class Handler:
    def __init__(self, maildir):
        if maildir:
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(maildir, sub), exist_ok=True)
        self.box = mailbox.Maildir(maildir, create=True) if maildir else None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject"):
            return "550 5.1.1 <%s>: Recipient address rejected: mailbox unavailable" % address
        if local.startswith("tempfail"):
            rest = local[len("tempfail"):]
            digits = rest[:len(rest) - len(rest.lstrip("0123456789"))]
            attempts[address] += 1
            if attempts[address] <= int(digits or "1"):
                return "451 4.3.0 Try again later (%d)" % attempts[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        key = self.box.add(envelope.original_content or envelope.content) if self.box is not None else "discarded"
        return "250 2.0.0 OK queued as %s" % key


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"notify" \
        and auth_data.password == os.environ.get("SMTP_PEER_PASSWORD", "").encode()
    return AuthResult(success=ok)


def main():
    # A parent that blocks signals (a Swift process's threads do) hands that mask down: without this, SIGTERM
    # would never reach the handler below.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--plain-port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    secure = Controller(Handler(args.maildir), hostname="127.0.0.1", port=args.port, server_hostname="localhost",
                        tls_context=context, require_starttls=True, authenticator=authenticator,
                        auth_required=True, auth_require_tls=True, data_size_limit=10 * 1024 * 1024)
    plain = Controller(Handler(None), hostname="127.0.0.1", port=args.plain_port, server_hostname="localhost")
    secure.start()
    plain.start()
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.run_until_complete(stop.wait())
    secure.stop()
    plain.stop()


if __name__ == "__main__":
    main()
