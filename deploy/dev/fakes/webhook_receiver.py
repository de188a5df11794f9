#!/usr/bin/env python3
"""A webhook receiver for notifyd's tests: it verifies every request with the `standardwebhooks` package (the
Standard Webhooks reference library, an independent implementation of our signing) using the secret from
WEBHOOK_RECEIVER_SECRET, and answers by path: /hook/ok 204 when verified (401 when not), /hook/gone 410,
/hook/flaky 500 the first time a webhook-id comes and 204 after, /hook/stream 200 with a body of `bytes` bytes
(query parameters; `chunk` bytes every `delay` seconds, as fast as the client reads without a delay; with a
Content-Length when `announce` is given, chunked otherwise), whether verified or not.

With --tls-port, --tls-name and --ca-out it also serves HTTPS there, under a certificate for --tls-name alone (no
address) signed by a test CA it writes to --ca-out, and keeps the TLS server names (SNI) clients ask for.

GET /_fake/received lists every request: {path, id, timestamp, verified, host, body}; GET /_fake/sni the server
names asked for over TLS ({name}), in order.
"""
import argparse
import os
import ssl
import tempfile
import threading
import time

from flask import Flask, Response, request
from standardwebhooks.webhooks import Webhook
from werkzeug.serving import make_server

from fakekit import certificates, json_list, serve

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--tls-port", type=int)
parser.add_argument("--tls-name")
parser.add_argument("--ca-out")
args = parser.parse_args()
verifier = Webhook(os.environ["WEBHOOK_RECEIVER_SECRET"])

app = Flask(__name__)
lock = threading.Lock()
received = []
seen = set()
server_names = []


@app.post("/hook/<name>")
def hook(name):
    body = request.get_data()
    try:
        verifier.verify(body, {k.lower(): v for k, v in request.headers.items()})
        verified = True
    except Exception:  # the library raises WebhookVerificationError (and others for malformed headers)
        verified = False
    webhook_id = request.headers.get("webhook-id")
    with lock:
        received.append({"path": name, "id": webhook_id, "timestamp": request.headers.get("webhook-timestamp"),
                         "verified": verified, "host": request.headers.get("Host"), "body": body.decode("utf-8", "replace")})
        first = webhook_id not in seen
        seen.add(webhook_id)
    if name == "stream":
        return stream(int(request.args.get("bytes", "0")), int(request.args.get("chunk", "65536")),
                      float(request.args.get("delay", "0")), "announce" in request.args)
    if name == "gone":
        return Response(status=410)
    if not verified:
        return Response(status=401)
    if name == "flaky" and first:
        return Response(status=500)
    return Response(status=204)


def stream(size, chunk, delay, announce):
    """`size` bytes of body, `chunk` at a time; generated as they are written, never held whole."""
    block = b"x" * chunk

    def body():
        left = size
        while left > 0:
            piece = block if left >= chunk else block[:left]
            left -= len(piece)
            yield piece
            if delay:
                time.sleep(delay)

    headers = {"Content-Length": str(size)} if announce else {}
    return Response(body(), status=200, headers=headers, mimetype="application/octet-stream")


@app.get("/_fake/received")
def list_received():
    return json_list(received, lock)


@app.get("/_fake/sni")
def list_server_names():
    return json_list(server_names, lock)


def serve_tls():
    """HTTPS on --tls-port, in a thread of its own, recording each handshake's server name."""
    cert, key = certificates(tempfile.mkdtemp(prefix="webhook-receiver-"), args.ca_out, dns_names=[args.tls_name])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def remember(_socket, name, _context):
        with lock:
            server_names.append({"name": name})

    context.sni_callback = remember
    server = make_server("127.0.0.1", args.tls_port, app, threaded=True, ssl_context=context)
    threading.Thread(target=server.serve_forever, daemon=True).start()


if __name__ == "__main__":
    if args.tls_port:
        serve_tls()
    serve(app, args.port)
