#!/usr/bin/env python3
"""Follow a command's fork tree.

usage: fork_tree.py [--session WHERE] -- COMMAND [ARGS...]

Runs COMMAND under utrace, follows every child it forks (and their
children), and when it is done prints the tree of processes: each with the
programs it executed, its thread count and how it ended. Exits with the
command's exit code.
"""
import argparse
import os
import sys

import utrace


class Proc:
    def __init__(self, pid, parent=None, programs=()):
        self.pid, self.parent = pid, parent
        self.programs = list(programs)  # inherited from the parent until it execs
        self.execed = False
        self.children, self.threads, self.end = [], 1, "still running"


def main():
    ap = argparse.ArgumentParser(usage="%(prog)s [--session WHERE] -- COMMAND [ARGS...]",
                                 description="Prints the fork tree of a command.")
    ap.add_argument("--session", default="local", help="local, tcp://HOST:PORT or exec:CMD")
    ap.add_argument("command", nargs="+")
    args = ap.parse_args()

    session = utrace.Session(args.session)
    proc = session.launch(args.command, follow=True)
    procs = {proc.pid: Proc(proc.pid)}
    # signal-term/-core: the kernel reports the exit of a fatal signal on that path
    proc.set_events("clone,exec,exit,signal-term,signal-core")
    proc.resume()

    def node(pid):  # a child's first events may come before its parent's clone event
        return procs.setdefault(pid, Proc(pid))

    def handle(e):
        p = node(e.tgid)
        if e.kind == "clone" and e.is_thread:
            p.threads += 1
        elif e.kind == "clone":
            child = node(e.child_tid)
            child.parent = e.tgid
            if not child.execed:
                child.programs = list(p.programs)
            p.children.append(child.pid)
        elif e.kind == "exec":
            p.programs = (p.programs if p.execed else []) + [e.path]
            p.execed = True
        elif e.kind == "exit" and e.tid == e.tgid:
            code = os.waitstatus_to_exitcode(e.code)
            p.end = f"exit {code}" if code >= 0 else f"killed by {utrace.signal_name(-code)}"

    while (status := proc.exit_status()) is None:
        if (e := session.wait(100)) is not None:
            handle(e)
    for e in session.poll():
        handle(e)

    def show(pid, depth):
        p = procs[pid]
        progs = " -> ".join(os.path.basename(x) for x in p.programs) or "?"
        threads = f", {p.threads} threads" if p.threads > 1 else ""
        print(f"{'    ' * depth}[{pid}] {progs}{threads}, {p.end}")
        for c in p.children:
            show(c, depth + 1)

    for pid, p in procs.items():
        if p.parent is None:
            show(pid, 0)
    session.close()
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code  # killed: 128 + signal, as sh says


if __name__ == "__main__":
    try:
        sys.exit(main())
    except utrace.Error as e:
        sys.exit(f"fork_tree: {e}")
