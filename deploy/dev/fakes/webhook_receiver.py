#!/usr/bin/env python3
"""A webhook receiver for notifyd's tests: it verifies every request with the `standardwebhooks` package (the
Standard Webhooks reference library, an independent implementation of our signing) using the secret from
WEBHOOK_RECEIVER_SECRET, and answers by path: /hook/ok 204 when verified (401 when not), /hook/gone 410,
/hook/flaky 500 the first time a webhook-id comes and 204 after.

GET /_fake/received lists every request: {path, id, timestamp, verified, body}.
"""
import argparse
import os
import threading

from flask import Flask, Response, request
from standardwebhooks.webhooks import Webhook

from fakekit import json_list, serve

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
args = parser.parse_args()
verifier = Webhook(os.environ["WEBHOOK_RECEIVER_SECRET"])

app = Flask(__name__)
lock = threading.Lock()
received = []
seen = set()


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
                         "verified": verified, "body": body.decode("utf-8", "replace")})
        first = webhook_id not in seen
        seen.add(webhook_id)
    if name == "gone":
        return Response(status=410)
    if not verified:
        return Response(status=401)
    if name == "flaky" and first:
        return Response(status=500)
    return Response(status=204)


@app.get("/_fake/received")
def list_received():
    return json_list(received, lock)


if __name__ == "__main__":
    serve(app, args.port)
