"""test_wire_encodings - the negotiated batch encodings (zdict1, strtab1,
compact1; docs/protocol.md "Encodings") between a real agent and a real relay.

On every JDK found, CpuSplit (burnA 9 : burnB 1, flush=1s so later batches
refer to stacks of earlier ones) runs twice: against a relay that accepts
every encoding, and against one that plays an older relay
(CPROF_RELAY_ENC=none). Checks: the agent logs what was negotiated (0xf /
0x0); both profiles are right (burnA > 3x burnB, native frames under the
[JIT] threads with their libjvm names); the encoded run sends fewer bytes.
On the first JDK a relay accepting only compact1 gets exactly that (0x2)."""
import re

from cplib import *

ENC_RE = re.compile(r"connected to relay .*encodings 0x([0-9a-f]+)")
SENT_RE = re.compile(r"exit: sent (\d+) bytes")


def run_one(jdk, enc_env, app):
    java = JavaProgram("CpuSplit")
    old = os.environ.get("CPROF_RELAY_ENC")
    if enc_env is None:
        os.environ.pop("CPROF_RELAY_ENC", None)
    else:
        os.environ["CPROF_RELAY_ENC"] = enc_env
    try:
        relay = Relay(name="wire_encodings").start()
    finally:
        if old is None:
            os.environ.pop("CPROF_RELAY_ENC", None)
        else:
            os.environ["CPROF_RELAY_ENC"] = old
    with relay:
        out = java.run(jdk, agent="app=%s,cpu=10ms,flush=1s,loglevel=info" % app, relay=relay,
                       args=["4", "9", "1"])
        encs = ENC_RE.findall(out)
        check(encs, "agent logged no connection:\n" + out[-2000:])
        sent = SENT_RE.search(out)
        check(sent, "no exit summary:\n" + out[-2000:])
        prof = wait_settled(relay, app, "cpu")
        fa, fb = share(prof, "CpuSplit.burnA"), share(prof, "CpuSplit.burnB")
        jit = {k: v for k, v in prof.items() if k.startswith("[JIT]")}
        native = [k for k in jit if "libjvm.so" in k or "::" in k]
        log("%s %s: encodings 0x%s, %s bytes sent, burnA %.2f burnB %.2f, %d [JIT] stacks (%d with native frames)"
            % (jdk_name(jdk), enc_env or "all", encs[-1], sent.group(1), fa, fb, len(jit), len(native)))
        check(fa > 3 * fb and fa > 0.3, "profile through %s: burnA %.2f burnB %.2f" % (enc_env or "all", fa, fb))
        check(not jit or native, "JIT thread stacks keep their native frames: %r" % list(jit)[:5])
        return int(encs[-1], 16), int(sent.group(1))


def run():
    if not JDKS:
        skip("no JDK")
    for i, jdk in enumerate(JDKS):
        tag = jdk_name(jdk).split("-")[1]
        enc_all, bytes_all = run_one(jdk, None, "enc-all-" + tag)
        check(enc_all == 0xf, "a current relay accepts zdict1+compact1+strtab1+pykind1, got 0x%x" % enc_all)
        enc_none, bytes_none = run_one(jdk, "none", "enc-none-" + tag)
        check(enc_none == 0, "an older relay (no welcome key 6): the agent uses nothing new, got 0x%x" % enc_none)
        check(bytes_all < bytes_none, "encodings shrink the run: %d vs %d bytes" % (bytes_all, bytes_none))
        if i == 0:
            enc_c, _ = run_one(jdk, "compact1", "enc-compact-" + tag)
            check(enc_c == 0x2, "a relay accepting compact1 only gets compact1, got 0x%x" % enc_c)


main(run)
