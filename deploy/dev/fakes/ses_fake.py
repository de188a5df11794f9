#!/usr/bin/env python3
"""A contract fake of Amazon SES's v2 SendEmail (POST /v2/email/outbound-emails), for notifyd's tests.

It checks each request's SigV4 signature with botocore's own signer (an independent implementation of ours):
the canonical request is rebuilt from the headers the request says it signed, with the timestamp it carries, and
the signature must match; the credential scope must name the configured key, region and service `ses`. It answers
with SES's documented bodies ({"MessageId"} on 200; {"message"} with `x-amzn-ErrorType` on errors) and fails on
cue. Accepted raw messages are kept with their Message-ID, so tests count repeats.

Control (JSON): POST /_fake/cue {"status": 429|500|400, "count": n, "type": "TooManyRequestsException"} answers the next
n requests so; GET /_fake/messages; POST /_fake/reset.

The secret key comes from SES_FAKE_SECRET_ACCESS_KEY (never argv).
"""
import argparse
import base64
import email
import json
import os
import re
import secrets
import threading
import time

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from flask import Flask, Response, request

from fakekit import Cues, json_list, serve

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--access-key-id", required=True)
parser.add_argument("--region", default="eu-west-1")
args = parser.parse_args()
SECRET = os.environ["SES_FAKE_SECRET_ACCESS_KEY"]

app = Flask(__name__)
lock = threading.Lock()
messages = []
cues = Cues(app)
AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                  r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")


def error(status, kind, message):
    return Response(json.dumps({"message": message}), status=status, mimetype="application/json",
                    headers={"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bacon/"})


def signature_problem():
    """None when the request is signed as SigV4 says, else what is wrong with it."""
    match = AUTH.match(request.headers.get("Authorization", ""))
    if not match:
        return "missing or malformed Authorization"
    key, day, region, service, signed, signature = match.groups()
    if key != args.access_key_id or region != args.region or service != "ses":
        return "wrong credential scope"
    names = signed.split(";")
    if "host" not in names or "x-amz-date" not in names:
        return "host and x-amz-date must be signed"
    amz_date = request.headers.get("X-Amz-Date", "")
    if not amz_date.startswith(day):
        return "X-Amz-Date does not match the scope's date"
    stamp = time.mktime(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")) - time.timezone
    if abs(time.time() - stamp) > 300:
        return "request too old or too new"
    headers = {name: request.headers.get(name, "") for name in names}
    aws = AWSRequest(method=request.method, url=request.url, data=request.get_data(), headers=headers)
    aws.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(args.access_key_id, SECRET, request.headers.get("X-Amz-Security-Token")), "ses", region)
    expected = signer.signature(signer.string_to_sign(aws, signer.canonical_request(aws)), aws)
    return None if secrets.compare_digest(expected, signature) else "signature does not match"


@app.post("/v2/email/outbound-emails")
def send_email():
    problem = signature_problem()
    if problem:
        return error(403, "InvalidSignatureException" if "signature" in problem else "UnrecognizedClientException", problem)
    cue = cues.take()
    if cue:
        return error(cue["status"], cue.get("type", "InternalFailure"), "cued failure")
    try:
        body = json.loads(request.get_data())
        to = body["Destination"]["ToAddresses"]
        raw = base64.b64decode(body["Content"]["Raw"]["Data"], validate=True)
        sender = body["FromEmailAddress"]
    except (KeyError, TypeError, ValueError):
        return error(400, "BadRequestException", "Destination, FromEmailAddress and Content.Raw.Data are required")
    if not to or len(to) > 50:
        return error(400, "BadRequestException", "between 1 and 50 destinations")
    parsed = email.message_from_bytes(raw)
    if parsed["Message-ID"] is None or parsed["From"] is None:
        return error(400, "BadRequestException", "the raw message has no Message-ID or From")
    if any(address.endswith("@rejected.example") for address in to):
        return error(400, "MessageRejected", "Email address is not verified.")
    message_id = "0102" + secrets.token_hex(28) + "-000000"
    with lock:
        messages.append({"messageId": message_id, "to": to, "from": sender, "headerMessageId": parsed["Message-ID"],
                         "subject": parsed["Subject"], "at": time.time()})
    return Response(json.dumps({"MessageId": message_id}), status=200, mimetype="application/json")


@app.get("/_fake/messages")
def list_messages():
    return json_list(messages, lock)


@app.post("/_fake/reset")
def reset():
    with lock:
        messages.clear()
    cues.clear()
    return {}


if __name__ == "__main__":
    serve(app, args.port)
