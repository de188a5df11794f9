#!/usr/bin/env python3
"""A contract fake of Amazon SES's v2 SendEmail (POST /v2/email/outbound-emails), for notifyd's tests.

It checks each request's SigV4 signature with botocore's own signer (an independent implementation of ours):
the canonical request is rebuilt from the headers the request says it signed, with the timestamp it carries, and
the signature must match; the credential scope must name the configured key, region and service `ses`. It answers
with SES's documented bodies ({"MessageId"} on 200; {"message"} with `x-amzn-ErrorType` on errors) and fails on
cue. Accepted raw messages are kept with their Message-ID, so tests count repeats.

It also plays SES's event publishing through SNS: after POST /_fake/subscribe {"endpoint"} it posts a signed
SubscriptionConfirmation there (confirmed when its SubscribeURL, GET /sns/confirm, is fetched); then every
message sent with a configuration set gets a signed Notification carrying an SES event shortly after: a
`Delivery`, or a permanent `Bounce` for recipients at bounce.example, a transient one at soft.example. Messages are
signed as SNS does (SignatureVersion 2: RSA PKCS#1 v1.5 with SHA-256 under the certificate at SigningCertURL,
GET /sns/SimpleNotificationService-fake.pem, made at start with the `cryptography` package); any other GET under
/sns/ is a 404. Every GET under /sns/ is counted.

Control (JSON): POST /_fake/cue {"status": 429|500|400, "count": n, "type": "TooManyRequestsException"} answers the next
n requests so; GET /_fake/messages; GET /_fake/events (each posted: {messageId, eventType, answer});
POST /_fake/replay {"messageId", "eventType", "tamper", "age"} posts one more event now (dated `age` seconds ago)
and returns our answer; GET /_fake/certificate-fetches lists the GETs under /sns/ ({path}); POST /_fake/reset.

The secret key comes from SES_FAKE_SECRET_ACCESS_KEY (never argv).
"""
import argparse
import base64
import datetime
import email
import itertools
import json
import os
import queue
import re
import secrets
import threading
import time
import urllib.request
import uuid

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from flask import Flask, Response, request

from fakekit import Cues, json_list, serve

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--access-key-id", required=True)
parser.add_argument("--region", default="eu-west-1")
parser.add_argument("--topic-arn", default="arn:aws:sns:eu-west-1:123456789012:notify-ses-events")
parser.add_argument("--event-delay", type=float, default=0.1, help="seconds between a send and its event")
args = parser.parse_args()
SECRET = os.environ["SES_FAKE_SECRET_ACCESS_KEY"]
BASE = f"http://127.0.0.1:{args.port}"
CERT_URL = BASE + "/sns/SimpleNotificationService-fake.pem"

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
    tags = {tag["Name"]: [tag["Value"]] for tag in body.get("EmailTags", []) if "Name" in tag and "Value" in tag}
    record = {"messageId": message_id, "to": to, "from": sender, "headerMessageId": parsed["Message-ID"],
              "subject": parsed["Subject"], "tags": tags, "configurationSet": body.get("ConfigurationSetName"),
              "at": time.time()}
    with lock:
        messages.append(record)
    if record["configurationSet"] and subscription["confirmed"]:
        kind = "Bounce" if any(a.endswith(("@bounce.example", "@soft.example")) for a in to) else "Delivery"
        outbox.put((time.time() + args.event_delay, next(sequence), record, kind))
    return Response(json.dumps({"MessageId": message_id}), status=200, mimetype="application/json")


# --- SES events through SNS ---

SIGNING_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_now = datetime.datetime.now(datetime.timezone.utc)
_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
CERTIFICATE = (x509.CertificateBuilder().subject_name(_name).issuer_name(_name).public_key(SIGNING_KEY.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(_now - datetime.timedelta(minutes=5))
               .not_valid_after(_now + datetime.timedelta(days=1)).sign(SIGNING_KEY, hashes.SHA256())
               .public_bytes(serialization.Encoding.PEM))
subscription = {"endpoint": None, "token": None, "confirmed": False}
events = []
certificate_fetches = []
outbox = queue.PriorityQueue()
sequence = itertools.count()


def sns_timestamp(age=0.0):
    at = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=age)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def sign(message):
    """Adds SignatureVersion 2's fields: the signed string is each field's name and value, a newline after each."""
    names = (["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"] if message["Type"] == "Notification"
             else ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"])
    text = "".join(f"{name}\n{message[name]}\n" for name in names if name in message)
    signature = SIGNING_KEY.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    message.update({"SignatureVersion": "2", "Signature": base64.b64encode(signature).decode(), "SigningCertURL": CERT_URL})
    return message


def post_sns(message, tamper=False):
    """Posts one SNS message to the subscribed endpoint as SNS does; returns the status it answered."""
    if tamper:
        message = dict(message, Message=message["Message"] + " ")
    post = urllib.request.Request(subscription["endpoint"], data=json.dumps(message).encode(), method="POST", headers={
        "Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": message["Type"],
        "x-amz-sns-message-id": message["MessageId"], "x-amz-sns-topic-arn": message["TopicArn"],
        "User-Agent": "Amazon Simple Notification Service Agent"})
    try:
        with urllib.request.urlopen(post, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as refused:
        return refused.code
    except OSError:
        return 0


def event_message(record, kind, age=0.0):
    """An SNS Notification whose Message is SES event publishing's JSON for `record`, dated `age` seconds ago."""
    at = sns_timestamp(age)
    event = {"eventType": kind, "mail": {"timestamp": at, "source": record["from"], "messageId": record["messageId"],
                                         "destination": record["to"],
                                         "tags": dict(record["tags"], **{"ses:configuration-set": [record["configurationSet"]]})}}
    if kind == "Delivery":
        event["delivery"] = {"timestamp": at, "recipients": record["to"], "smtpResponse": "250 2.0.0 OK", "processingTimeMillis": 120}
    else:
        permanent = any(a.endswith("@bounce.example") for a in record["to"])
        event["bounce"] = {"bounceType": "Permanent" if permanent else "Transient",
                           "bounceSubType": "General" if permanent else "MailboxFull", "timestamp": at,
                           "bouncedRecipients": [{"emailAddress": a} for a in record["to"]], "feedbackId": str(uuid.uuid4())}
    return sign({"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": args.topic_arn,
                 "Message": json.dumps(event), "Timestamp": at,
                 "UnsubscribeURL": BASE + "/sns/unsubscribe"})


def event_loop():
    while True:
        due, _, record, kind = outbox.get()
        time.sleep(max(0.0, due - time.time()))
        answer = post_sns(event_message(record, kind))
        with lock:
            events.append({"messageId": record["messageId"], "eventType": kind, "answer": answer})


@app.get("/sns/<name>")
def certificate(name):
    with lock:
        certificate_fetches.append({"path": request.path})
    if name != "SimpleNotificationService-fake.pem":
        return Response("<Error><Code>NoSuchKey</Code></Error>", status=404, mimetype="text/xml")
    return Response(CERTIFICATE, mimetype="application/x-pem-file")


@app.get("/_fake/certificate-fetches")
def list_certificate_fetches():
    return json_list(certificate_fetches, lock)


@app.get("/sns/confirm")
def confirm():
    if request.args.get("Token") != subscription["token"] or request.args.get("TopicArn") != args.topic_arn:
        return Response("<ErrorResponse/>", status=400, mimetype="text/xml")
    subscription["confirmed"] = True
    return Response("<ConfirmSubscriptionResponse/>", mimetype="text/xml")


@app.post("/_fake/subscribe")
def subscribe():
    subscription.update(endpoint=request.get_json(force=True)["endpoint"], token=secrets.token_hex(32), confirmed=False)
    confirm_url = f"{BASE}/sns/confirm?Action=ConfirmSubscription&TopicArn={args.topic_arn}&Token={subscription['token']}"
    answer = post_sns(sign({
        "Type": "SubscriptionConfirmation", "MessageId": str(uuid.uuid4()), "Token": subscription["token"],
        "TopicArn": args.topic_arn, "SubscribeURL": confirm_url, "Timestamp": sns_timestamp(),
        "Message": f"You have chosen to subscribe to the topic {args.topic_arn}.\nTo confirm the subscription, visit the SubscribeURL included in this message."}))
    return {"answer": answer, "confirmed": subscription["confirmed"]}


@app.get("/_fake/events")
def list_events():
    return json_list(events, lock)


@app.post("/_fake/replay")
def replay():
    asked = request.get_json(force=True)
    with lock:
        record = next((m for m in messages if m["messageId"] == asked["messageId"]), None)
    if record is None:
        return {"error": "no such message"}, 404
    message = event_message(record, asked.get("eventType", "Delivery"), float(asked.get("age", 0)))
    return {"answer": post_sns(message, bool(asked.get("tamper")))}


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
    threading.Thread(target=event_loop, daemon=True).start()
    serve(app, args.port)
