"""bench_stats - statistics the benches share (scripts/bench-*)."""
import math
import statistics


def median_ci(xs, conf=0.95):
    """Median of xs and a distribution-free interval for it: the order
    statistics x(j), x(n-1-j) with P(Binomial(n, 1/2) < j+1) <= (1-conf)/2."""
    xs = sorted(xs)
    n = len(xs)
    med = statistics.median(xs)
    j, cum = -1, 0.0
    while True:
        p = math.comb(n, j + 1) / 2.0 ** n
        if cum + p > (1 - conf) / 2:
            break
        cum += p
        j += 1
    if j < 0:
        return med, xs[0], xs[-1]
    return med, xs[j], xs[n - 1 - j]
