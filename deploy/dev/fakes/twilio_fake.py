#!/usr/bin/env python3
"""A contract fake of Twilio's Messages API, for notifyd's tests and benchmarks (no Twilio emulator exists).

It checks what Twilio checks (Basic auth with the account SID and auth token; the form fields To, From or
MessagingServiceSid, Body), answers with the documented 201 body and error bodies ({code, message, more_info,
status}), fails on cue, and posts status callbacks signed with X-Twilio-Signature by the `twilio` package's own
RequestValidator, so our verification is checked against an independent implementation.

Magic numbers (as Twilio's test credentials have them): +15005550001 invalid (21211), +15005550002 unroutable
(21612), +15005550004 unsubscribed (21610), +15005550009 not SMS-capable (21614). Numbers starting +1555019
are accepted and then reported undelivered (ErrorCode 30003).

Control (JSON): POST /_fake/cue {"status": 429|500|..., "count": n, "retryAfter": s, "delay": s} answers the next n
requests so; GET /_fake/messages; GET /_fake/callbacks; POST /_fake/replay {"sid", "status", "tamper"} posts one
more callback for a message now and returns the status our server answered; POST /_fake/reset.

The auth token comes from TWILIO_FAKE_AUTH_TOKEN (never argv).
"""
import argparse
import base64
import json
import os
import queue
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from flask import Flask, Response, request
from twilio.request_validator import RequestValidator

from fakekit import Cues, json_list, serve

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--account-sid", required=True)
parser.add_argument("--callback-delay", type=float, default=0.05, help="seconds between a send and its callbacks")
args = parser.parse_args()
AUTH_TOKEN = os.environ["TWILIO_FAKE_AUTH_TOKEN"]
validator = RequestValidator(AUTH_TOKEN)

app = Flask(__name__)
lock = threading.Lock()
messages = []    # every accepted message, in order
callbacks = []   # every callback posted: {sid, status, answer}
cues = Cues(app)  # {"status", "count", "retryAfter", "delay"}
outbox = queue.Queue()

PERMANENT = {
    "+15005550001": (21211, "The 'To' number is not a valid phone number."),
    "+15005550002": (21612, "The 'To' phone number is not currently reachable via SMS."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def error(status, code, message, headers=None):
    body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers or {})


def now_rfc2822():
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())


@app.post("/2010-04-01/Accounts/<account>/Messages.json")
def create_message(account):
    received = time.time()
    auth = request.headers.get("Authorization", "")
    expected = "Basic " + base64.b64encode(f"{args.account_sid}:{AUTH_TOKEN}".encode()).decode()
    if not secrets.compare_digest(auth, expected) or account != args.account_sid:
        return error(401, 20003, "Authenticate")
    cue = cues.take()
    if cue and cue.get("delay"):
        time.sleep(cue["delay"])
    if cue and cue.get("status"):
        status = cue["status"]
        headers = {"Retry-After": str(cue["retryAfter"])} if cue.get("retryAfter") is not None else {}
        if status == 429:
            return error(429, 20429, "Too Many Requests", headers)
        return error(status, 20500, "Internal Server Error", headers)
    if request.mimetype != "application/x-www-form-urlencoded":
        return error(400, 20001, "Content-Type must be application/x-www-form-urlencoded")
    form = request.form
    to, body = form.get("To", ""), form.get("Body", "")
    sender, service = form.get("From"), form.get("MessagingServiceSid")
    if not to:
        return error(400, 21604, "A 'To' phone number is required.")
    if not sender and not service:
        return error(400, 21603, "A 'From' phone number is required.")
    if not body:
        return error(400, 21602, "Message body is required.")
    if len(body) > 1600:
        return error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    if to in PERMANENT:
        code, message = PERMANENT[to]
        return error(400, code, message)
    if not E164.match(to):
        return error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    sid = "SM" + secrets.token_hex(16)
    callback = form.get("StatusCallback")
    record = {"sid": sid, "to": to, "from": sender, "body": body, "statusCallback": callback, "at": received}
    with lock:
        messages.append(record)
    if callback:
        final = ("undelivered", "30003") if to.startswith("+1555019") else ("delivered", None)
        outbox.put((time.time() + args.callback_delay, record, "sent", None))
        outbox.put((time.time() + args.callback_delay, record, *final))
    stamp = now_rfc2822()
    reply = {
        "account_sid": args.account_sid, "api_version": "2010-04-01", "body": body, "date_created": stamp,
        "date_sent": None, "date_updated": stamp, "direction": "outbound-api", "error_code": None,
        "error_message": None, "from": sender, "messaging_service_sid": service, "num_media": "0",
        "num_segments": str(max(1, (len(body) + 152) // 153)), "price": None, "price_unit": "USD", "sid": sid,
        "status": "accepted" if service else "queued", "subresource_uris": {
            "media": f"/2010-04-01/Accounts/{args.account_sid}/Messages/{sid}/Media.json"},
        "to": to, "uri": f"/2010-04-01/Accounts/{args.account_sid}/Messages/{sid}.json",
    }
    return Response(json.dumps(reply), status=201, mimetype="application/json")


def post_callback(record, status, error_code, tamper=False):
    """Posts one status callback as Twilio does: form fields, signed over the URL and the sorted fields."""
    params = {
        "AccountSid": args.account_sid, "ApiVersion": "2010-04-01", "From": record["from"] or "",
        "MessageSid": record["sid"], "MessageStatus": status, "SmsSid": record["sid"], "SmsStatus": status,
        "To": record["to"],
    }
    if error_code:
        params["ErrorCode"] = error_code
    signature = validator.compute_signature(record["statusCallback"], params)
    if tamper:
        params["MessageStatus"] = "delivered" if status != "delivered" else "undelivered"
    data = urllib.parse.urlencode(params).encode()
    req = urllib.request.Request(record["statusCallback"], data=data, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature,
        "User-Agent": "TwilioProxy/1.1"})
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            code = answer.status
    except urllib.error.HTTPError as failure:
        code = failure.code
    except OSError:
        code = 0
    with lock:
        callbacks.append({"sid": record["sid"], "status": status, "answer": code})
    return code


def callback_loop():
    while True:
        due, record, status, error_code = outbox.get()
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        post_callback(record, status, error_code)


@app.get("/_fake/messages")
def list_messages():
    return json_list(messages, lock)


@app.get("/_fake/callbacks")
def list_callbacks():
    return json_list(callbacks, lock)


@app.post("/_fake/replay")
def replay():
    asked = request.get_json(force=True)
    with lock:
        record = next((m for m in messages if m["sid"] == asked["sid"]), None)
    if record is None or not record["statusCallback"]:
        return {"error": "no such message with a callback"}, 404
    return {"answer": post_callback(record, asked["status"], asked.get("errorCode"), bool(asked.get("tamper")))}


@app.post("/_fake/reset")
def reset():
    with lock:
        messages.clear()
        callbacks.clear()
    cues.clear()
    return {}


if __name__ == "__main__":
    threading.Thread(target=callback_loop, daemon=True).start()
    serve(app, args.port)
