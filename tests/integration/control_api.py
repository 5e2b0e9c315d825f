"""Fleet control's HTTP API for tests (docs/api.md "Control"): POST
/api/v1/control and the acknowledgements GET /api/v1/control shows."""
import json
import urllib.error
import urllib.request


def post(relay, body, token=None):
    """POSTs body (a dict) to relay's /api/v1/control; (status, answer)."""
    req = urllib.request.Request(relay.http + "/api/v1/control", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def acks_of(relay, app, cid, event):
    """The acks of request cid with this event, by instance, and the whole
    GET /api/v1/control document."""
    doc = relay.get_json("/api/v1/control", app=app)
    row = [a for a in doc["audit"] if a["id"] == cid]
    return {k["instance"]: k for k in (row[0]["acks"] if row else []) if k["event"] == event}, doc
