"""What the contract fakes share: failures on cue, JSON lists for the tests to read, a quiet server."""
import json
import logging
import threading

from flask import Flask, Response, request


class Cues:
    """Failures a test asked for (POST /_fake/cue {"status", "count", ...}): each answers the next `count` requests."""

    def __init__(self, app: Flask = None):
        self.lock = threading.Lock()
        self.items = []
        if app is not None:
            @app.post("/_fake/cue")
            def cue():
                return {"cues": self.add(request.get_json(force=True))}

    def add(self, cue):
        """Queues a cue; returns how many are queued."""
        with self.lock:
            self.items.append(dict(cue))
            return len(self.items)

    def take(self):
        """The cue the next request answers by, or None."""
        with self.lock:
            if not self.items:
                return None
            cue = self.items[0]
            cue["count"] -= 1
            if cue["count"] <= 0:
                self.items.pop(0)
            return cue

    def clear(self):
        with self.lock:
            self.items.clear()


def json_list(items, lock):
    """A JSON response of `items`, read under `lock`."""
    with lock:
        return Response(json.dumps(items), mimetype="application/json")


def serve(app: Flask, port: int):
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app.run(host="127.0.0.1", port=port, threaded=True)
