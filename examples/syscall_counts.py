#!/usr/bin/env python3
"""Count the system calls of every thread of a command (and of its children).

usage: syscall_counts.py [--session WHERE] -- COMMAND [ARGS...]

Runs COMMAND under utrace, follows every thread and child it creates, and
prints for each thread how often it called each system call. The counting
costs the command little: the engines report syscall entries and never stop
a thread. Exits with the command's exit code.
"""
import argparse
import collections
import os
import sys

import utrace


def main():
    ap = argparse.ArgumentParser(usage="%(prog)s [--session WHERE] -- COMMAND [ARGS...]",
                                 description="Counts the system calls of every thread.")
    ap.add_argument("--session", default="local", help="local, tcp://HOST:PORT or exec:CMD")
    ap.add_argument("command", nargs="+")
    args = ap.parse_args()

    session = utrace.Session(args.session)
    proc = session.launch(args.command, follow=True)  # held before its first instruction
    # clone too: a followed child gets its settings from its parent's clone event
    proc.set_events("syscall-entry,clone")
    proc.resume()

    counts = collections.defaultdict(collections.Counter)  # tid -> {syscall name: calls}
    process_of = {}  # tid -> tgid
    while True:
        status = proc.exit_status()  # None while the command runs
        events = session.poll() if status is not None else [session.wait(100)]
        for e in events:
            if e is not None and e.kind == "syscall-entry":
                counts[e.tid][e.name] += 1
                process_of[e.tid] = e.tgid
        if status is not None:
            break

    for tid in sorted(counts):
        calls = counts[tid]
        print(f"thread {tid} (process {process_of[tid]}): {sum(calls.values())} syscalls")
        for name, n in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {n:8} {name}")
    session.close()
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code  # killed: 128 + signal, as sh says


if __name__ == "__main__":
    try:
        sys.exit(main())
    except utrace.Error as e:
        sys.exit(f"syscall_counts: {e}")
