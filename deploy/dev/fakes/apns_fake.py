#!/usr/bin/env python3
"""A contract fake of APNs' provider API (HTTP/2 over TLS), for notifyd's tests, served by hypercorn.

At start it makes a test CA and a server certificate for 127.0.0.1 and writes the CA to --ca-out. The API is on
--tls-port, HTTP/2 over TLS only (anything else gets 505): POST /3/device/<hex token> wants `authorization:
bearer <provider token>`, an ES256 JWT that joserfc (an independent implementation) checks under the key in
--key (the team's .p8, PEM): `kid` the key id, `iss` the team id, `iat` an integer at most an hour old (older
is ExpiredProviderToken). It checks `apns-topic`, `apns-push-type`, `apns-priority` (5 or 10), `apns-expiration`
(an integer), `apns-id` (a UUID, when present), `apns-collapse-id` (at most 64 bytes) and the payload (JSON with
`aps`, at most 4096 bytes), answering APNs' documented errors ({"reason"}, 410 with a timestamp). Tokens starting
`dead` are Unregistered (410), `bad0` BadDeviceToken (400); cues answer the next n requests with their
status and reason. 200 echoes `apns-id` (or makes one).

Control, plain HTTP/1.1 on --port (JSON): POST /_fake/cue {"status", "count", "reason"?}; GET /_fake/messages;
GET /_fake/stats [{provider_tokens, connections, requests}].
"""
import argparse
import asyncio
import json
import tempfile
import threading
import time
import uuid

from hypercorn.asyncio import serve
from hypercorn.config import Config
from joserfc import jwt
from joserfc.jwk import ECKey

from fakekit import Cues, certificates

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--tls-port", type=int, required=True)
parser.add_argument("--ca-out", required=True)
parser.add_argument("--key", required=True)
parser.add_argument("--key-id", required=True)
parser.add_argument("--team-id", required=True)
parser.add_argument("--topic", required=True)
args = parser.parse_args()
with open(args.key, "rb") as f:
    KEY = ECKey.import_key(f.read())

lock = threading.Lock()
messages = []
cues = Cues()
seen = {"provider_tokens": set(), "connections": set(), "requests": 0}


async def reply(send, status, body=b"", headers=()):
    await send({"type": "http.response.start", "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in headers]})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive, limit=1 << 20):
    body = b""
    while True:
        event = await receive()
        body += event.get("body", b"")
        if len(body) > limit or not event.get("more_body"):
            return body


def error(status, reason, **extra):
    return status, json.dumps({"reason": reason, **extra}).encode()


def check(headers, token, body):
    """APNs' answer to one request: (status, body, apns-id)."""
    auth = headers.get("authorization", "")
    if not auth.startswith("bearer "):
        return (*error(403, "MissingProviderToken"), None)
    try:
        decoded = jwt.decode(auth[7:], KEY, algorithms=["ES256"])
    except Exception:  # joserfc raises several kinds; all mean a bad token
        return (*error(403, "InvalidProviderToken"), None)
    claims = decoded.claims
    if decoded.header.get("kid") != args.key_id or claims.get("iss") != args.team_id or not isinstance(claims.get("iat"), int):
        return (*error(403, "InvalidProviderToken"), None)
    if claims["iat"] < time.time() - 3600 or claims["iat"] > time.time() + 60:
        return (*error(403, "ExpiredProviderToken"), None)
    with lock:
        seen["provider_tokens"].add(auth[7:])
    apns_id = headers.get("apns-id")
    if apns_id is not None:
        try:
            uuid.UUID(apns_id)
        except ValueError:
            return (*error(400, "BadMessageId"), None)
    if headers.get("apns-topic") != args.topic:
        return (*error(400, "DeviceTokenNotForTopic"), apns_id)
    if headers.get("apns-push-type") not in ("alert", "background", "voip", "liveactivity"):
        return (*error(400, "InvalidPushType"), apns_id)
    if headers.get("apns-priority") not in ("5", "10"):
        return (*error(400, "BadPriority"), apns_id)
    if not headers.get("apns-expiration", "").isdigit():
        return (*error(400, "BadExpirationDate"), apns_id)
    if len(headers.get("apns-collapse-id", "").encode()) > 64:
        return (*error(400, "BadCollapseId"), apns_id)
    if not body:
        return (*error(400, "PayloadEmpty"), apns_id)
    if len(body) > 4096:
        return (*error(413, "PayloadTooLarge"), apns_id)
    try:
        payload = json.loads(body)
        alert = payload["aps"]["alert"]
    except (ValueError, KeyError, TypeError):
        return (*error(400, "BadPayload"), apns_id)
    cue = cues.take()
    if cue is not None:
        return (*error(cue["status"], cue.get("reason", "InternalServerError")), apns_id)
    if token.startswith("dead"):
        return (*error(410, "Unregistered", timestamp=int(time.time() * 1000)), apns_id)
    if token.startswith("bad0"):
        return (*error(400, "BadDeviceToken"), apns_id)
    apns_id = apns_id or str(uuid.uuid4()).upper()
    with lock:
        messages.append({
            "token": token, "apnsId": apns_id, "collapseId": headers.get("apns-collapse-id"),
            "priority": headers.get("apns-priority"), "pushType": headers.get("apns-push-type"),
            "title": alert.get("title"), "body": alert.get("body"), "deliveryId": payload.get("deliveryId"),
            "at": time.time(),
        })
    return 200, b"", apns_id


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path, method = scope["path"], scope["method"]
    headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
    if path.startswith("/3/device/"):
        if scope["scheme"] != "https" or scope["http_version"] != "2":
            return await reply(send, 505, *error(505, "HTTP/2 over TLS only")[1:])
        body = await read_body(receive)
        with lock:
            seen["connections"].add(tuple(scope.get("client") or ()))
            seen["requests"] += 1
        token = path[len("/3/device/"):]
        if method != "POST":
            return await reply(send, 405, *error(405, "MethodNotAllowed")[1:])
        if not token or any(c not in "0123456789abcdefABCDEF" for c in token):
            return await reply(send, 400, *error(400, "BadDeviceToken")[1:])
        status, answer, apns_id = check(headers, token, body)
        extra = [("apns-id", apns_id)] if apns_id else []
        return await reply(send, status, answer, [("content-type", "application/json")] + extra)
    if scope["scheme"] == "https":
        return await reply(send, 404, *error(404, "BadPath")[1:])
    if path == "/_fake/cue" and method == "POST":
        count = cues.add(json.loads(await read_body(receive)))
        return await reply(send, 200, json.dumps({"cues": count}).encode(), [("content-type", "application/json")])
    if path == "/_fake/messages":
        with lock:
            body = json.dumps(messages).encode()
        return await reply(send, 200, body, [("content-type", "application/json")])
    if path == "/_fake/stats":
        with lock:
            body = json.dumps([{"provider_tokens": len(seen["provider_tokens"]), "connections": len(seen["connections"]),
                                "requests": seen["requests"]}]).encode()
        return await reply(send, 200, body, [("content-type", "application/json")])
    return await reply(send, 404, b"{}")


def main():
    folder = tempfile.mkdtemp(prefix="apns-fake-")
    cert, key = certificates(folder, args.ca_out, dns_names=["localhost"], ip_addresses=["127.0.0.1"])
    config = Config()
    config.bind = [f"127.0.0.1:{args.tls_port}"]
    config.insecure_bind = [f"127.0.0.1:{args.port}"]
    config.certfile, config.keyfile = cert, key
    config.alpn_protocols = ["h2", "http/1.1"]
    config.accesslog = None
    config.errorlog = None
    config.keep_alive_timeout = 60
    asyncio.run(serve(app, config))


main()
