#!/usr/bin/env python3
"""bench/runtimes.py: section 1 of bench/run.sh, OCI runtimes side by side.

Usage: runtimes.py BUNDLE N_SEQ N_PAR ROUNDS NAME=CMD...   (CMD: the runtime
binary and its global flags, e.g. "kago=/x/kago-runc --root /tmp/s-kago").

bench/run.sh starts it inside one private mount namespace (the cgroup2
"unified" mount of a hybrid host hidden, so that crun 1.8 runs): every
runtime pays the same, with no wrapper around any of them. Every runtime runs
the same bundle (one config.json). Runs alternate between runtimes, in
forward and reverse order every other round, so drift in the machine's load
hits all alike.

Measured per runtime, with wait4(2) of the runtime's process (its own
resources plus those of the children it reaped, i.e. the container):
  seq:   `run ID` one after another, N_SEQ times: median wall and CPU
         (user+sys) time;
  par:   N_PAR `run`s started at once, ROUNDS times: median wall of a round
         and its summed CPU time;
  create peak RSS: the largest maxrss of `create ID` (then `delete -f`),
         over 5 creates, from GNU time: the runtime's peak resident memory
         while it creates (that of its largest reaped child if larger).
Prints a table and the kago/x ratios (the first runtime named is "kago").
"""
import os
import statistics
import sys
import time


def spawn(argv):
    # posix_spawn (vfork-like) rather than fork: a forked copy of this
    # Python would count in the child's ru_maxrss.
    err = os.path.join(WORK, "err-%s" % argv[0].rsplit("/", 1)[-1])
    return os.posix_spawnp(argv[0], argv, os.environ, file_actions=[
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, err, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
    ])


def run(argv):
    """Runs argv; returns (wall s, cpu s, maxrss KiB, ok)."""
    t0 = time.perf_counter()
    pid = spawn(argv)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, os.waitstatus_to_exitcode(status) == 0


def par_round(argv_of, n):
    """Starts n commands at once; returns (wall s, summed cpu s, failures)."""
    t0 = time.perf_counter()
    pids = [spawn(argv_of(i)) for i in range(n)]
    cpu, failed = 0.0, 0
    for pid in pids:
        _, status, ru = os.wait4(pid, 0)
        cpu += ru.ru_utime + ru.ru_stime
        failed += os.waitstatus_to_exitcode(status) != 0
    return time.perf_counter() - t0, cpu, failed


def orders(names, rounds):
    for r in range(rounds):
        yield names if r % 2 == 0 else names[::-1]


def main():
    global WORK
    bundle, n_seq, n_par, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    WORK = os.path.dirname(bundle)
    rts = {}
    for a in sys.argv[5:]:
        name, cmd = a.split("=", 1)
        rts[name] = cmd.split()
    names = list(rts)
    seq = {n: [] for n in names}
    cpu = {n: [] for n in names}
    par = {n: [] for n in names}
    pcpu = {n: [] for n in names}
    rss = {n: [] for n in names}
    failed = {n: 0 for n in names}
    for i, order in enumerate(orders(names, n_seq + 3)):
        for n in order:
            w, c, _, ok = run(rts[n] + ["run", "--bundle", bundle, "s-%s-%d" % (n, i)])
            failed[n] += not ok
            if i >= 3:  # three warm-up rounds
                seq[n].append(w)
                cpu[n].append(c)
    for r, order in enumerate(orders(names, rounds)):
        for n in order:
            w, c, f = par_round(lambda k: rts[n] + ["run", "--bundle", bundle, "p-%s-%d-%d" % (n, r, k)], n_par)
            par[n].append(w)
            pcpu[n].append(c)
            failed[n] += f
    for i, order in enumerate(orders(names, 5)):
        for n in order:
            cid = "c-%s-%d" % (n, i)
            # GNU time forks the runtime from a process of ~1 MiB, so the
            # runtime's maxrss does not start at this Python's size.
            out = os.path.join(WORK, "rss")
            _, _, _, ok = run(["time", "-f", "%M", "-o", out] + rts[n] + ["create", "--bundle", bundle, cid])
            failed[n] += not ok
            rss[n].append(int(open(out).read().split()[-1]))
            run(rts[n] + ["delete", "-f", cid])

    med = statistics.median
    k = names[0]
    print("%-8s %9s %7s %9s %7s %13s %7s %11s %7s %10s %7s" % (
        "runtime", "seq wall", "kago/x", "seq CPU", "kago/x", "%d at once" % n_par, "kago/x",
        "its CPU", "kago/x", "create RSS", "failed"))
    print("%-8s %9s %7s %9s %7s %13s %7s %11s %7s %10s %7s" % ("", "ms", "", "ms", "", "wall ms", "", "ms", "", "MiB", ""))
    for n in names:
        print("%-8s %9.2f %7.2f %9.2f %7.2f %13.0f %7.2f %11.0f %7.2f %10.1f %7d" % (
            n, med(seq[n]) * 1000, med(seq[k]) / med(seq[n]),
            med(cpu[n]) * 1000, med(cpu[k]) / med(cpu[n]),
            med(par[n]) * 1000, med(par[k]) / med(par[n]),
            med(pcpu[n]) * 1000, med(pcpu[k]) / med(pcpu[n]),
            max(rss[n]) / 1024, failed[n]))
    for n in names:
        path = os.path.join(WORK, "err-%s" % rts[n][0].rsplit("/", 1)[-1])
        if failed[n] and os.path.exists(path):
            lines = open(path, errors="replace").read().splitlines()
            common = sorted(set(lines), key=lines.count, reverse=True)[:2]
            print("  note: %s failed %d times; most common stderr: %s" % (n, failed[n], " | ".join(common)))


if __name__ == "__main__":
    main()
