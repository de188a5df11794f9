#!/usr/bin/env python3
"""The send API as a straightforward Python service would do it: the benchmark's peer for `notify-bench send`.

  POST /v1/notifications  x-api-key, a JSON body as notifyd's SendNotification takes it (channel, messageCategory,
                          recipient.email, content.title and content.body) → 202 {"requestId"}.

Per request, on one of a thread pool's threads: validate the body (400 naming the field), hash the key with SHA-256
and look it up (401; compared in constant time), insert the request and its audit row in one transaction on a
pooled PostgreSQL connection, then publish the job to RabbitMQ with publisher confirms and `mandatory` on the
thread's own channel, and answer 202. This is the usual shape of such a service (Flask, psycopg2, pika); it has no
outbox, so a crash between commit and publish loses the job, which notifyd's design does not.

  --postgres URL   a database the peer may create its schema `send_peer` in (dropped and made afresh)
  --amqp URL       the broker; the peer declares its own queue `send_peer.jobs`
  The API key it accepts is $SEND_PEER_API_KEY.
"""
import argparse, hashlib, hmac, json, os, threading, uuid

import pika
import psycopg2
import psycopg2.pool
from flask import Flask, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

LANES = {"OTP": "high", "PASSWORD_RESET": "high", "ORDER_CONFIRMATION": "normal", "REMINDER": "normal", "NEWSLETTER": "low"}
CHANNELS = {"email", "sms", "push", "webhook"}

app = Flask(__name__)
local = threading.local()
pool = None
amqp_url = None


def channel():
    """The thread's AMQP channel, in confirm mode."""
    if getattr(local, "channel", None) is None:
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        local.channel = connection.channel()
        local.channel.confirm_delivery()
    return local.channel


def bad(message, status=400):
    return jsonify({"error": {"code": "bad-request" if status == 400 else "unauthorized", "message": message}}), status


@app.post("/v1/notifications")
def send():
    key = request.headers.get("x-api-key")
    if not key:
        return bad("the request carries no x-api-key", 401)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return bad("the body is not a JSON object")
    if body.get("channel") not in CHANNELS:
        return bad("field 'channel' must be one of email, sms, push, webhook")
    lane = LANES.get(body.get("messageCategory"))
    if lane is None:
        return bad("field 'messageCategory' is not a known category")
    recipient = body.get("recipient")
    if not isinstance(recipient, dict) or not isinstance(recipient.get("email"), str) or "@" not in recipient["email"]:
        return bad("field 'recipient.email' must be an email address")
    content = body.get("content")
    if not isinstance(content, dict) or not isinstance(content.get("title"), str) or not isinstance(content.get("body"), str):
        return bad("fields 'content.title' and 'content.body' are required strings")
    digest = hashlib.sha256(key.encode()).hexdigest()
    request_id = str(uuid.uuid4())
    connection = pool.getconn()
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute("SELECT key_hash, product FROM send_peer.api_keys WHERE key_hash = %s", (digest,))
            row = cursor.fetchone()
            if row is None or not hmac.compare_digest(row[0], digest):
                return bad("the x-api-key is unknown", 401)
            cursor.execute(
                "INSERT INTO send_peer.requests (id, product, channel, category, lane, recipient, title, body)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (request_id, row[1], body["channel"], body["messageCategory"], lane, recipient["email"], content["title"], content["body"]))
            cursor.execute(
                "INSERT INTO send_peer.audit (actor, product, entity, action, request_id) VALUES (%s, %s, %s, 'send.accepted', %s)",
                ("key:" + digest[:12], row[1], "request:" + request_id, request_id))
    finally:
        pool.putconn(connection)
    job = json.dumps({"requestId": request_id, "channel": body["channel"], "to": recipient["email"], "lane": lane}).encode()
    channel().basic_publish("", "send_peer.jobs", job, pika.BasicProperties(delivery_mode=2, message_id=request_id), mandatory=True)
    return jsonify({"requestId": request_id}), 202


def main():
    global pool, amqp_url
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--postgres", required=True)
    parser.add_argument("--amqp", required=True)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    amqp_url = args.amqp
    setup = psycopg2.connect(args.postgres)
    with setup, setup.cursor() as cursor:
        cursor.execute("""
            DROP SCHEMA IF EXISTS send_peer CASCADE;
            CREATE SCHEMA send_peer;
            CREATE TABLE send_peer.api_keys (key_hash text PRIMARY KEY, product uuid NOT NULL);
            CREATE TABLE send_peer.requests (id uuid PRIMARY KEY, product uuid NOT NULL, channel text NOT NULL, category text NOT NULL,
                lane text NOT NULL, recipient text NOT NULL, title text NOT NULL, body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
            CREATE TABLE send_peer.audit (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), actor text NOT NULL,
                product uuid NOT NULL, entity text NOT NULL, action text NOT NULL, request_id text);
            """)
        cursor.execute("INSERT INTO send_peer.api_keys VALUES (%s, %s)",
                       (hashlib.sha256(os.environ["SEND_PEER_API_KEY"].encode()).hexdigest(), str(uuid.uuid4())))
    setup.close()
    broker = pika.BlockingConnection(pika.URLParameters(amqp_url))
    broker.channel().queue_declare("send_peer.jobs", durable=True)
    broker.channel().queue_purge("send_peer.jobs")
    broker.close()
    pool = psycopg2.pool.ThreadedConnectionPool(1, args.threads, args.postgres)
    # Keep-alive, as notifyd's listener has it: a thread per client connection.
    WSGIRequestHandler.protocol_version = "HTTP/1.1"
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=WSGIRequestHandler)
    server.serve_forever()


if __name__ == "__main__":
    main()
