"""Host test of the utrace module: what works without /dev/utrace.

Events built from raw records (the layout of kmod/include/uapi/linux/utrace.h)
through utrace.parse_records, the decoding helpers, event masks, and the
errors. Run by ctest as PythonHost; PYTHONPATH names the built module.
"""
import os
import struct
import unittest

import utrace

HEADER = struct.Struct("<IHHQQIiiI")  # struct utrace_event: 40 bytes
REC = {"syscall-entry": 1, "syscall-exit": 2, "signal": 3, "clone": 4, "exec": 5, "exit": 6,
       "death": 7, "reap": 8, "quiesce": 9, "step": 10, "lost": 11}
HELD, ARGS = 0x1, 0x2


def record(kind, body=b"", flags=0, seq=1, tid=100, tgid=100, handle=7, time_ns=123):
    body += b"\0" * (-len(body) % 8)
    return HEADER.pack(HEADER.size + len(body), REC[kind], flags, seq, time_ns, handle, tid,
                       tgid, 0) + body


class Events(unittest.TestCase):
    def test_syscall_entry_and_exit(self):
        entry = record("syscall-entry", struct.pack("<q6Q", 257, 2**64 - 100, 0x1000, 0x80000,
                                                    0, 0, 0), flags=HELD | ARGS, seq=5)
        exit_ = record("syscall-exit", struct.pack("<qq", 257, -2), seq=6, tid=101)
        a, b = utrace.parse_records(entry + exit_)
        self.assertEqual((a.kind, a.seq, a.tid, a.tgid, a.handle, a.time_ns, a.held),
                         ("syscall-entry", 5, 100, 100, 7, 123, True))
        self.assertEqual((a.nr, a.name), (257, "openat"))
        self.assertEqual(a.args, (2**64 - 100, 0x1000, 0x80000, 0, 0, 0))
        self.assertEqual((b.kind, b.nr, b.name, b.ret, b.error, b.tid, b.held),
                         ("syscall-exit", 257, "openat", -2, "ENOENT", 101, False))
        self.assertFalse(hasattr(a, "ret"))
        self.assertFalse(hasattr(b, "args"))
        with self.assertRaisesRegex(AttributeError, "syscall-entry event has no 'path'"):
            a.path
        self.assertIn("openat", repr(a))
        # Without UTRACE_REC_ARGS the engine did not capture them.
        c, = utrace.parse_records(record("syscall-entry", struct.pack("<q6Q", 0, *[0] * 6)))
        self.assertIsNone(c.args)

    def test_exec_clone_exit_signal_death_lost(self):
        path = b"/fixtures/fx_calls"
        recs = (record("exec", struct.pack("<II", len(path), 0) + path + b"\0", seq=1)
                + record("clone", struct.pack("<iIQ", 4242, 9, 0x10000 | 0x100), seq=2)
                + record("exit", struct.pack("<q", 3 << 8), seq=3)
                + record("signal", struct.pack("<iiiI", 11, 1, 0, 3) + b"\0" * 128, seq=4)
                + record("death", struct.pack("<Ii", 1, 17), seq=5)
                + record("lost", struct.pack("<Q", 12), seq=6, handle=0)
                + record("quiesce", seq=7) + record("step", seq=8) + record("reap", seq=9))
        ex, cl, xt, sg, de, lo, qu, st, re_ = utrace.parse_records(recs)
        self.assertEqual((ex.kind, ex.path), ("exec", "/fixtures/fx_calls"))
        self.assertEqual((cl.child_tid, cl.child_handle, cl.is_thread), (4242, 9, True))
        self.assertEqual(cl.clone_flags, 0x10100)
        self.assertEqual((xt.kind, xt.code), ("exit", 768))
        self.assertEqual((sg.signo, sg.signame, sg.code, sg.errno, sg.disposition),
                         (11, "SIGSEGV", 1, 0, "core"))
        self.assertEqual(len(sg.siginfo), 128)
        self.assertEqual((de.group_dead, de.exit_signal), (True, 17))
        self.assertFalse(hasattr(de, "signo"))
        self.assertEqual((lo.kind, lo.count, lo.handle), ("lost", 12, 0))
        self.assertEqual([e.kind for e in (qu, st, re_)], ["quiesce", "step", "reap"])
        self.assertEqual(utrace.render(xt), "+++ exiting with 3 +++")

    def test_malformed_records(self):
        good = record("exit", struct.pack("<q", 0))
        for bad, why in ((good[:20], "truncated header"), (good[:-8], "impossible"),
                         (record("exec", struct.pack("<II", 99, 0) + b"/bin/sh\0"),
                          "longer than its record")):
            with self.assertRaises(utrace.Error) as cm:
                utrace.parse_records(bad)
            self.assertEqual(cm.exception.errno, 71)  # EPROTO
            self.assertIn(why, str(cm.exception))
            self.assertEqual(str(cm.exception), cm.exception.sentence)
        self.assertEqual(utrace.parse_records(b""), [])

    def test_exec_record_without_room_for_its_path(self):
        # A path_len beyond a body that has no byte after the exec header:
        # the parser must refuse it, not read past the record.
        with self.assertRaises(utrace.Error):
            utrace.parse_records(record("exec", struct.pack("<II", 99, 0)))

    def test_exec_path_not_utf8(self):
        path = b"/tmp/\xff"
        e, = utrace.parse_records(record("exec", struct.pack("<II", len(path), 0) + path + b"\0"))
        self.assertEqual(os.fsencode(e.path), path)


class Decoding(unittest.TestCase):
    def test_syscalls(self):
        self.assertEqual(utrace.syscall_name(0), "read")
        self.assertEqual(utrace.syscall_name(231), "exit_group")
        self.assertEqual(utrace.syscall_name(500), "syscall_500")
        self.assertEqual(utrace.syscall_number("openat"), 257)
        self.assertIsNone(utrace.syscall_number("no_such_call"))
        info = utrace.syscall_info(257)
        self.assertEqual((info["name"], info["argc"], info["args"][1]), ("openat", 4, "Path"))
        self.assertIsNone(utrace.syscall_info(400))
        self.assertTrue(utrace.syscall_summary(257))

    def test_signals_errnos_results(self):
        self.assertEqual(utrace.signal_name(9), "SIGKILL")
        self.assertEqual(utrace.signal_number("segv"), 11)
        self.assertIsNone(utrace.signal_number("SIGNOPE"))
        self.assertEqual(utrace.errno_name(2), "ENOENT")
        self.assertEqual(utrace.errno_number("EBADF"), 9)
        self.assertEqual(utrace.render_result(257, -2), "= -1 ENOENT (No such file or directory)")
        self.assertEqual(utrace.render_result(0, 5), "= 5")

    def test_event_masks(self):
        ev = utrace.ev
        self.assertEqual(ev.SYSCALL, ev.SYSCALL_ENTRY | ev.SYSCALL_EXIT)
        self.assertEqual(ev.parse("syscall-entry,exec"), ev.SYSCALL_ENTRY | ev.EXEC)
        self.assertEqual(ev.format(ev.CLONE | ev.DEATH), "clone,death")
        with self.assertRaises(utrace.Error) as cm:
            ev.parse("syscall-entry,bogus")
        self.assertEqual(cm.exception.errno, 22)
        self.assertIn('"bogus"', cm.exception.sentence)

    def test_regs(self):
        r = utrace.Regs()
        r.rip, r.rsp = 0x401000, 0x7ffc0000
        self.assertEqual((r.pc, r.sp), (0x401000, 0x7ffc0000))
        self.assertEqual(r.as_dict()["rip"], 0x401000)
        self.assertEqual(len(r.as_dict()), 27)


class Errors(unittest.TestCase):
    def test_no_device(self):
        with self.assertRaises(utrace.Error) as cm:
            utrace.Session("/dev/no-such-utrace")
        self.assertEqual(cm.exception.errno, 2)
        self.assertIn("/dev/no-such-utrace", str(cm.exception))
        self.assertTrue(issubclass(utrace.Error, Exception))
        self.assertIs(utrace.Thread, utrace.Engine)

    def test_bad_url(self):
        with self.assertRaises(utrace.Error) as cm:
            utrace.Session("tcp://127.0.0.1:1")  # nothing listens on port 1
        self.assertNotEqual(cm.exception.errno, 0)


if __name__ == "__main__":
    unittest.main()
