"""test_diff_calibration - the statistical diff on real JVMs, short form
(the long form with 20 A/A pairs is scripts/calibrate-diff).

3 A/A pairs (4 DiffWork JVMs each, 2 per side, the same code, each JVM
until its main thread used 3.5 s of CPU, at cpu=1ms: ~3,500 samples a side
however busy the machine is) must PASS a 5pp gate; 1 A/B pair whose cmp
side makes DiffWork.hot do 50% more work (+8pp) must fail it with
REGRESSION naming DiffWork.hot, and hot's 95% interval must hold the true
change (computed from the base share). With these short runs a method's
standard error is ~1.3pp, so a 2pp gate would often say INCONCLUSIVE on
A/A (rightly: it cannot tell); scripts/calibrate-diff measures longer runs."""
from cplib import *
import diffcal


def run():
    if not JDKS:
        skip("no JDK")
    java = JavaProgram("DiffWork")
    with Relay(name="diff_calibration") as relay:
        aa_fail = 0
        for i in range(3):
            span = diffcal.run_pair(relay, java, JDKS[0], "aa%d" % i, 0, seconds=45, cpu_seconds=3.5)
            rc, doc = diffcal.gate(relay, "aa%d" % i, span)
            log("A/A %d (exit %d) %s" % (i, rc, diffcal.describe(doc)))
            aa_fail += rc != 0
            check(doc["stats"]["base"]["instances"] == 2 and doc["stats"]["cmp"]["instances"] == 2,
                  "two instances a side: %r" % doc["stats"])
            check(doc["stats"]["base"]["windows"] >= 8, "windows a side: %r" % doc["stats"]["base"])
        check(aa_fail == 0, "every A/A gate passes (%d of 3 failed)" % aa_fail)

        slow = 0.5
        span = diffcal.run_pair(relay, java, JDKS[0], "ab", slow, seconds=45, cpu_seconds=3.5)
        rc, doc = diffcal.gate(relay, "ab", span)
        log("A/B +%d%% (exit %d) %s" % (slow * 100, rc, diffcal.describe(doc)))
        hot = diffcal.hot_row(doc)
        check(rc == 1 and hot and hot["verdict"] == "REGRESSION", "A/B fails the gate on DiffWork.hot: %r" % hot)
        truth = diffcal.true_delta(hot["base"], slow)
        check(hot["ci95"][0] <= truth <= hot["ci95"][1],
              "hot's interval [%.4f, %.4f] holds the true change %.4f" % (hot["ci95"][0], hot["ci95"][1], truth))
        failing = [m["name"] for m in doc["methods"] if m["verdict"] == "REGRESSION"]
        check(set(failing) <= {"DiffWork.hot", "DiffWork.kernel"},
              "only hot (and the kernel it calls) regress: %r" % failing)


if __name__ == "__main__":
    main(run)
