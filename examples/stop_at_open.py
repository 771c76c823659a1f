#!/usr/bin/env python3
"""Stop a command at its first open of a file and show how it got there.

usage: stop_at_open.py [--session WHERE] PATH -- COMMAND [ARGS...]

Runs COMMAND (and its children) under utrace with every open, openat and
openat2 held at its entry, filtered in the kernel. At the first one whose
path is PATH (as the program spells it), prints the call and a backtrace of
the thread, then lets everything run on. Exits with the command's exit code,
or 1 if PATH was never opened.
"""
import argparse
import os
import sys

import utrace

PATH_ARG = {"open": 0, "creat": 0, "openat": 1, "openat2": 1}  # which argument is the path


def main():
    ap = argparse.ArgumentParser(
        usage="%(prog)s [--session WHERE] PATH -- COMMAND [ARGS...]",
        description="Stops at the first open of PATH and prints a backtrace.")
    ap.add_argument("--session", default="local", help="local, tcp://HOST:PORT or exec:CMD")
    ap.add_argument("path")
    ap.add_argument("command", nargs="+")
    args = ap.parse_args()

    session = utrace.Session(args.session)
    proc = session.launch(args.command, follow=True)
    engine = proc.engine()
    engine.set_syscall_filter(list(PATH_ARG))  # children inherit filter and events
    # clone too: a followed child gets its settings from its parent's clone event
    engine.set_events("syscall-entry,clone", stop="syscall-entry")
    engine.resume()

    found = False
    while (status := proc.exit_status()) is None:
        e = session.wait(100)
        if e is None or e.kind != "syscall-entry":  # the launch's exec, clones
            continue
        engine = session.engine(e)
        if not found and engine.read_string(e.args[PATH_ARG[e.name]]) == args.path:
            found = True
            print(f"[{e.tid}] {utrace.render(e, engine)}")
            for i, frame in enumerate(utrace.Symbolizer(session, e.tgid).backtrace(engine)):
                print(f"  #{i} {frame}")
        if found:
            engine.set_events(utrace.ev.NONE)  # nothing more to see on this thread
        engine.resume()

    if not found:
        print(f"stop_at_open: {args.command[0]} never opened {args.path}", file=sys.stderr)
        return 1
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code  # killed: 128 + signal, as sh says


if __name__ == "__main__":
    try:
        sys.exit(main())
    except utrace.Error as e:
        sys.exit(f"stop_at_open: {e}")
