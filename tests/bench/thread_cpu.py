#!/usr/bin/env python3
"""CPU of each thread of a running process between start and SIGINT (for profiling on a
machine without perf counters; docs/BENCHMARKS.md). Per thread: user and system time from
/proc/PID/task/TID/stat, run time and the number of times it was put on a CPU (each one a
wake-up and a context switch) from /proc/PID/task/TID/schedstat. Threads are listed by
thread id, i.e. in the order they were created; threads that started or ended in between
are shown with what they did while both snapshots saw them.

  thread_cpu.py PID [LABEL]     (stop with SIGINT; bench_vs_collectd.py --attach does)"""
import os
import signal
import sys

CLK_TCK = os.sysconf("SC_CLK_TCK")


def snapshot(pid):
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                run_ns, _, slices = (int(x) for x in f.read().split())
        except OSError:
            continue  # the thread ended meanwhile
        out[int(tid)] = (int(fields[11]), int(fields[12]), run_ns, slices)
    return out


def main():
    pid = int(sys.argv[1])
    label = sys.argv[2] if len(sys.argv) > 2 else str(pid)
    stopped = []
    signal.signal(signal.SIGINT, lambda *_: stopped.append(1))
    before = snapshot(pid)
    while not stopped:
        signal.pause()
    after = snapshot(pid)
    rows, total = [], [0, 0, 0, 0]
    for i, tid in enumerate(sorted(after)):
        if tid not in before:
            continue
        d = [a - b for a, b in zip(after[tid], before[tid])]
        rows.append((i, tid, d))
        total = [t + x for t, x in zip(total, d)]
    print("thread_cpu %s: %d threads; index tid user_s sys_s run_s wakeups" % (label, len(rows)))
    for i, tid, (ut, st, run, slices) in rows:
        print("  %3d %7d %7.2f %7.2f %7.3f %8d" % (i, tid, ut / CLK_TCK, st / CLK_TCK,
                                                 run / 1e9, slices))
    print("  total       %7.2f %7.2f %7.3f %8d" % (total[0] / CLK_TCK, total[1] / CLK_TCK,
                                                   total[2] / 1e9, total[3]), flush=True)


if __name__ == "__main__":
    main()
