#!/usr/bin/env python3
"""A contract fake of Google's OAuth token endpoint and FCM HTTP v1's messages:send, for notifyd's tests.

POST /token takes the service account's assertion (grant_type jwt-bearer) and checks it with joserfc, an
independent JWT implementation: RS256 under the account's public key, `iss` the account's email, `aud` this
endpoint, the FCM scope, `exp` at most an hour after `iat` and not passed. It answers {access_token, expires_in,
token_type}. POST /v1/projects/<project>/messages:send wants that token as Bearer and a message with a token;
it answers {"name": "projects/<p>/messages/<n>"}, or FCM's error body ({error: {code, message, status,
details: [{@type: ...FcmError, errorCode}]}}): tokens starting `stale-` are UNREGISTERED (404), `bad-` are
INVALID_ARGUMENT (400); cues give QUOTA_EXCEEDED (429) or INTERNAL (500) to the next n requests.

Control (JSON): POST /_fake/cue {"status", "count"}; GET /_fake/messages; GET /_fake/stats {exchanges}.
The account's public key is read from --public-key (a PEM file).
"""
import argparse
import json
import secrets
import threading
import time

from flask import Flask, Response, request
from joserfc import jwt
from joserfc.jwk import RSAKey

from fakekit import Cues, json_list, serve

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--public-key", required=True)
parser.add_argument("--client-email", required=True)
parser.add_argument("--project", required=True)
args = parser.parse_args()
with open(args.public_key, "rb") as f:
    PUBLIC = RSAKey.import_key(f.read())
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"

app = Flask(__name__)
lock = threading.Lock()
tokens = {}
messages = []
cues = Cues(app)
stats = {"exchanges": 0}


def fcm_error(status, code, state, message):
    body = {"error": {"code": status, "message": message, "status": state, "details": [
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}]}}
    return Response(json.dumps(body), status=status, mimetype="application/json")


@app.post("/token")
def token():
    if request.form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
        return {"error": "unsupported_grant_type"}, 400
    try:
        decoded = jwt.decode(request.form.get("assertion", ""), PUBLIC, algorithms=["RS256"])
    except Exception as failure:  # joserfc raises several kinds; all mean a bad assertion
        return {"error": "invalid_grant", "error_description": f"bad signature: {type(failure).__name__}"}, 400
    claims, now = decoded.claims, time.time()
    audience = request.url_root.rstrip("/") + "/token"
    if (claims.get("iss") != args.client_email or claims.get("aud") != audience or claims.get("scope") != SCOPE
            or not isinstance(claims.get("exp"), int) or not isinstance(claims.get("iat"), int)
            or claims["exp"] - claims["iat"] > 3600 or claims["exp"] < now or claims["iat"] > now + 60):
        return {"error": "invalid_grant", "error_description": "bad claims"}, 400
    access = "ya29.fake-" + secrets.token_urlsafe(24)
    with lock:
        tokens[access] = now + 3600
        stats["exchanges"] += 1
    return {"access_token": access, "expires_in": 3599, "token_type": "Bearer"}


@app.post("/v1/projects/<project>/messages:send")
def send(project):
    auth = request.headers.get("Authorization", "")
    with lock:
        valid = auth.startswith("Bearer ") and tokens.get(auth[7:], 0) > time.time()
    if not valid:
        return fcm_error(401, "UNAUTHENTICATED", "UNAUTHENTICATED", "Request had invalid authentication credentials.")
    if project != args.project:
        return fcm_error(403, "SENDER_ID_MISMATCH", "PERMISSION_DENIED", "wrong project")
    cue = cues.take()
    if cue and cue["status"] == 429:
        return fcm_error(429, "QUOTA_EXCEEDED", "RESOURCE_EXHAUSTED", "Quota exceeded.")
    if cue:
        return fcm_error(cue["status"], "INTERNAL", "INTERNAL", "Internal error.")
    try:
        message = request.get_json(force=True)["message"]
        device = message["token"]
    except (KeyError, TypeError, ValueError):
        return fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "message.token is required")
    if device.startswith("stale-"):
        return fcm_error(404, "UNREGISTERED", "NOT_FOUND", "Requested entity was not found.")
    if device.startswith("bad-"):
        return fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token")
    with lock:
        name = f"projects/{project}/messages/0:{len(messages) + 1}%{secrets.token_hex(8)}"
        messages.append({"name": name, "token": device, "title": message.get("notification", {}).get("title"),
                         "deliveryId": message.get("data", {}).get("deliveryId"), "at": time.time()})
    return {"name": name}


@app.get("/_fake/messages")
def list_messages():
    return json_list(messages, lock)


@app.get("/_fake/stats")
def get_stats():
    return json_list([stats], lock)


if __name__ == "__main__":
    serve(app, args.port)
