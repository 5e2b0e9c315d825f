"""test_context_jetty - automatic request context in a real servlet container
(issue 18): Debian's Jetty 9 (/usr/share/jetty9, javax.servlet) runs a
plain servlet (tests/java/servlet/CtxServlet.java, no cprof code) under the
real agent; context.http wraps javax.servlet.http.HttpServlet.service.

A client alternates /shop/cart/{n} (6 ms) and /shop/items/{uuid} (2 ms) on
Jetty's shared thread pool, each request with its own traceparent.
Asserted: the endpoints are "GET /shop/cart/{n}" and "GET /shop/items/{id}"
(ids folded, the context path kept); every cartWork sample carries the cart
endpoint and none the items one, and the reverse (no leak between requests
on the pool); a heavy request's trace id returns its stacks (cartWork under
the app's root) and nothing of the other requests. Skips without jetty9.
"""
import os
import random
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid

from cplib import *

JETTY = "/usr/share/jetty9"
APP = "ctx-jetty"
CART, ITEMS = "GET /shop/cart/{n}", "GET /shop/items/{id}"


def trace_profile(relay, tid, frm):
    """GET /api/v1/profile?trace_id= (Relay.get would spell it trace.id)."""
    q = urllib.parse.urlencode({"trace_id": tid, "type": "cpu", "from": frm, "to": "now", "format": "collapsed"})
    st, _, body = http_get(relay.http + "/api/v1/profile?" + q, token=relay.token)
    return st, body


def frames_total(prof, name):
    return sum(v for s, v in prof.items() if any(f.startswith(name) for f in s.split(";")))


def get(port, path, trace=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if trace:
        req.add_header("traceparent", "00-%s-%016x-01" % (trace, random.getrandbits(64) | 1))
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def run():
    if not os.path.exists(os.path.join(JETTY, "start.jar")) or not JDKS:
        skip("no Debian jetty9 (apt-get install jetty9) or no JDK")
    jdk = JDKS[0]
    base = os.path.join(out_dir("context_jetty"), "base")
    shutil.rmtree(base, ignore_errors=True)
    classes = os.path.join(base, "webapps", "shop", "WEB-INF", "classes")
    os.makedirs(classes)
    with open(os.path.join(base, "start.ini"), "w") as f:
        f.write("--module=http\n--module=deploy\n")
    with open(os.path.join(base, "webapps", "shop", "WEB-INF", "web.xml"), "w") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<web-app xmlns="http://xmlns.jcp.org/xml/ns/javaee" version="3.1">\n'
                '  <servlet><servlet-name>ctx</servlet-name><servlet-class>CtxServlet</servlet-class></servlet>\n'
                '  <servlet-mapping><servlet-name>ctx</servlet-name><url-pattern>/*</url-pattern></servlet-mapping>\n'
                '</web-app>\n')
    subprocess.run([os.path.join(jdk, "bin", "javac"), "--release", "11", "-nowarn", "-cp",
                    os.path.join(JETTY, "lib", "servlet-api-3.1.jar"), "-d", classes,
                    os.path.join(SOURCE, "tests", "java", "servlet", "CtxServlet.java")], check=True)
    with Relay(name="context_jetty") as relay:
        t_start = int(time.time()) - 5
        port = free_port()
        logpath = os.path.join(out_dir("context_jetty"), "jetty.log")
        cmd = [os.path.join(jdk, "bin", "java"),
               "-agentpath:%s=relay=%s,app=%s,cpu=2ms,flush=1s" % (AGENT, relay.ws, APP),
               "-jar", os.path.join(JETTY, "start.jar"), "jetty.home=" + JETTY, "jetty.base=" + base,
               "jetty.http.port=%d" % port, "jetty.http.host=127.0.0.1"]
        with open(logpath, "wb") as logf:
            p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, cwd=base)
        try:
            t0 = time.time()
            wait_for(lambda: "Started @" in open(logpath, errors="replace").read(), 30, "jetty started")
            log("jetty up in %.1fs" % (time.time() - t0))
            big = "%032x" % random.getrandbits(128)
            n, stop = 0, time.time() + 5
            while time.time() < stop:
                get(port, "/shop/cart/%d" % random.randrange(10 ** 6), trace="%032x" % random.getrandbits(128))
                get(port, "/shop/items/%s" % uuid.uuid4(), trace="%032x" % random.getrandbits(128))
                n += 1
                if n == 20:
                    get(port, "/shop/cart/7?big", trace=big)
            log("%d requests of each endpoint" % n)
        finally:
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        out = open(logpath, errors="replace").read()
        check("hs_err" not in out and "SIGSEGV" not in out, "jetty crashed:\n" + out[-2000:])
        frm = str(t_start)
        whole = wait_settled(relay, APP, frm=frm, to="now")
        cart = relay.collapsed(APP, frm=frm, to="now", labels="endpoint=" + CART)
        items = relay.collapsed(APP, frm=frm, to="now", labels="endpoint=" + ITEMS)
        for name, own, other in (("CtxServlet.cartWork", cart, items), ("CtxServlet.itemWork", items, cart)):
            total, mine, wrong = frames_total(whole, name), frames_total(own, name), frames_total(other, name)
            log("%s: %d samples, %d under its endpoint, %d under the other" % (name, total, mine, wrong))
            check(total > 0 and mine == total and wrong == 0,
                  "%s: %d samples, %d with its endpoint, %d with the other endpoint" % (name, total, mine, wrong))
        st, body = trace_profile(relay, big, frm)
        check(st == 200, "trace profile: %d %s" % (st, body[:300]))
        tr = {}
        for line in body.decode().splitlines():
            s, _, v = line.rpartition(" ")
            if s:
                tr[s] = tr.get(s, 0) + int(v)
        check(tr and all(s.split(";")[0] == "[app] " + APP for s in tr), "the trace's stacks are rooted by the app: %s" % list(tr)[:3])
        check(frames_total(tr, "CtxServlet.cartWork") > 0, "the heavy request's cartWork is in its trace")
        check(frames_total(tr, "CtxServlet.itemWork") == 0, "no other request's work in the trace")


main(run)
