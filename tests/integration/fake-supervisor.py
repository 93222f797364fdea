#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A tiny stand-in for systemd's service manager, for isolated's fd store tests (test-daemon.sh).

It runs one service process and keeps a file descriptor store for it, with systemd's semantics:

  * $NOTIFY_SOCKET is an abstract AF_UNIX datagram socket; notifications may carry fds (SCM_RIGHTS).
  * "FDSTORE=1" + "FDNAME=NAME" keeps every passed fd under NAME (several fds may share a name; no
    FDNAME means "stored"; an invalid name is refused and the fds are closed, as systemd does).
  * "FDSTOREREMOVE=1" + "FDNAME=NAME" drops (closes) every stored fd of that name.
  * "BARRIER=1" is answered by closing the passed fd (the client waits for the pipe's hangup).
  * fds passed without FDSTORE=1 are closed; READY=1, STOPPING=1, STATUS= are noted.
  * At each start the stored fds are passed at 3.. with LISTEN_PID (the child's pid), LISTEN_FDS and
    LISTEN_FDNAMES (the names joined with ':'), in the order they were stored.

The test drives it through a FIFO, DIR/control, one command a line, "ID VERB [ARGS...]"; the answer
goes to DIR/reply.ID (written atomically), "ok ..." or "error ...":

  start LOG [VAR=VALUE|-VAR ...]    start the service (stdout/stderr to LOG), changing its environment
  restart LOG [VAR=VALUE|-VAR ...]  SIGKILL the running service (a crash), then start it again
  kill                              SIGKILL the service, no restart ("ok STATUS")
  store NAME [PATH]                 put an fd of PATH (default /dev/null) into the store under NAME
  dump                              the store, as in DIR/store

What it saw goes to DIR/events, a line each ("start N PID", "exit PID STATUS", "FDSTORE NAME SERIAL",
"FDSTOREREMOVE NAME K", "BARRIER", "READY PID", ...), and DIR/store always holds the store, a line per
fd: "NAME SERIAL", SERIAL numbering the fds in the order they came in (a fd that stays keeps its
number, so a test can tell the very same fd from a new one of the same name).

SIGTERM (or SIGINT) stops the service with SIGTERM and exits with its status (an exit code, or 128 +
the signal), so that the test can stop it like the daemon itself. The service gets SIGKILL if the
supervisor dies (PR_SET_PDEATHSIG).

usage: fake-supervisor.py --dir DIR -- COMMAND [ARGS...]
"""

import argparse
import array
import ctypes
import os
import secrets
import selectors
import signal
import socket
import sys
import time

PR_SET_PDEATHSIG = 1


def fdname_is_valid(name):
    # systemd's fdname_is_valid(): printable ASCII except ':', at most 255 characters
    return 0 < len(name) <= 255 and all(32 <= ord(c) < 127 and c != ':' for c in name)


class Supervisor:
    def __init__(self, directory, command):
        self.dir = directory
        self.command = command
        self.env = dict(os.environ)
        for var in ('NOTIFY_SOCKET', 'LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'LISTEN_PIDFDID'):
            self.env.pop(var, None)
        self.store = []  # [name, serial, fd]
        self.serial = 0
        self.child = None
        self.instance = 0
        self.last_status = None
        self.events = open(os.path.join(directory, 'events'), 'a', buffering=1)

        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
        self.notify_name = '@isolate-fake-supervisor/%d/%s' % (os.getpid(), secrets.token_hex(8))
        self.notify.bind('\0' + self.notify_name[1:])
        self.notify.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.notify.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)

        control = os.path.join(directory, 'control')
        if not os.path.exists(control):
            os.mkfifo(control, 0o600)
        # O_RDWR: never an EOF when a writer closes
        self.control = os.open(control, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self.control_buf = b''

        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wake_w)
        self.got_term = False
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self.on_term)
        signal.signal(signal.SIGINT, self.on_term)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)

        self.sel = selectors.DefaultSelector()
        self.sel.register(self.notify, selectors.EVENT_READ, 'notify')
        self.sel.register(self.control, selectors.EVENT_READ, 'control')
        self.sel.register(self.wake_r, selectors.EVENT_READ, 'wake')
        self.write_store()

    def on_term(self, signum, frame):
        self.got_term = True

    def event(self, line):
        self.events.write(line + '\n')

    def write_atomic(self, path, text):
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            f.write(text)
        os.rename(tmp, path)

    def store_text(self):
        return ''.join('%s %d\n' % (name, serial) for name, serial, _ in self.store)

    def write_store(self):
        self.write_atomic(os.path.join(self.dir, 'store'), self.store_text())

    # ---- notifications ----------------------------------------------------------------------

    def drain_notify(self):
        while True:
            try:
                msg, anc, flags, _ = self.notify.recvmsg(4096, socket.CMSG_SPACE(253 * 4) + socket.CMSG_SPACE(12),
                                                         socket.MSG_CMSG_CLOEXEC)
            except (BlockingIOError, InterruptedError):
                return
            fds = []
            pid = 0
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    a = array.array('i')
                    a.frombytes(data[:len(data) - len(data) % a.itemsize])
                    fds.extend(a)
                elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = int.from_bytes(data[0:4], sys.byteorder)
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                self.event('TRUNCATED pid=%d' % pid)
            self.handle(msg.decode('utf-8', 'replace'), fds, pid)

    def handle(self, text, fds, pid):
        fields = {}
        for line in text.split('\n'):
            if '=' in line:
                k, v = line.split('=', 1)
                fields[k] = v
        used = False
        if fields.get('READY') == '1':
            self.event('READY %d' % pid)
        if fields.get('STOPPING') == '1':
            self.event('STOPPING %d' % pid)
        if 'STATUS' in fields:
            self.event('STATUS %s' % fields['STATUS'])
        if fields.get('BARRIER') == '1':
            self.event('BARRIER %d' % len(fds))
            for fd in fds:
                os.close(fd)
            return
        if fields.get('FDSTOREREMOVE') == '1':
            name = fields.get('FDNAME', '')
            keep = [e for e in self.store if e[0] != name]
            for e in self.store:
                if e[0] == name:
                    os.close(e[2])
            self.event('FDSTOREREMOVE %s %d' % (name, len(self.store) - len(keep)))
            self.store = keep
            self.write_store()
        if fields.get('FDSTORE') == '1' and fds:
            name = fields.get('FDNAME', 'stored')
            if not fdname_is_valid(name):
                self.event('FDSTORE-REFUSED %s' % name)
            else:
                for fd in fds:
                    self.serial += 1
                    self.store.append([name, self.serial, fd])
                    self.event('FDSTORE %s %d' % (name, self.serial))
                used = True
                self.write_store()
        if fds and not used:
            self.event('EXTRA-FDS %d' % len(fds))
            for fd in fds:
                os.close(fd)

    # ---- the service --------------------------------------------------------------------------

    def start(self, log, changes):
        if self.child is not None:
            raise RuntimeError('the service is running (pid %d)' % self.child)
        for c in changes:
            if c.startswith('-'):
                self.env.pop(c[1:], None)
            elif '=' in c:
                k, v = c.split('=', 1)
                self.env[k] = v
            else:
                raise RuntimeError('bad environment change %r' % c)
        self.drain_notify()  # what the previous instance sent is processed before the next one starts
        env = dict(self.env)
        env['NOTIFY_SOCKET'] = self.notify_name
        fds = [e[2] for e in self.store]
        if fds:
            env['LISTEN_FDS'] = str(len(fds))
            env['LISTEN_FDNAMES'] = ':'.join(e[0] for e in self.store)
        logfd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        ppid = os.getpid()
        pid = os.fork()
        if pid == 0:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
                if os.getppid() != ppid:
                    os._exit(1)
                for s in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
                    signal.signal(s, signal.SIG_DFL)
                signal.set_wakeup_fd(-1)
                null = os.open('/dev/null', os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(logfd, 1)
                os.dup2(logfd, 2)
                # out of the way first, then into place at 3..
                high = [fcntl_dupfd(fd, 3 + len(fds) + 64) for fd in fds]
                for i, fd in enumerate(high):
                    os.dup2(fd, 3 + i, inheritable=True)
                for fd in high:
                    os.close(fd)
                if fds:
                    env['LISTEN_PID'] = str(os.getpid())
                os.execvpe(self.command[0], self.command, env)
            except BaseException as e:  # noqa: B036
                os.write(2, ('fake-supervisor: cannot start %s: %s\n' % (self.command[0], e)).encode())
            os._exit(127)
        os.close(logfd)
        self.child = pid
        self.instance += 1
        self.event('start %d %d %d' % (self.instance, pid, len(fds)))
        return pid

    def reap(self, block=False):
        if self.child is None:
            return True
        try:
            pid, status = os.waitpid(self.child, 0 if block else os.WNOHANG)
        except ChildProcessError:
            pid, status = self.child, 0
        if pid == 0:
            return False
        code = os.waitstatus_to_exitcode(status)
        self.last_status = code if code >= 0 else 128 - code
        self.event('exit %d %d' % (self.child, self.last_status))
        self.child = None
        return True

    def wait_child(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.reap():
            self.drain_notify()
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        self.drain_notify()
        return True

    def kill(self):
        if self.child is None:
            return
        try:
            os.kill(self.child, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.wait_child(30)

    # ---- control ---------------------------------------------------------------------------------

    def command_line(self, line):
        words = line.split()
        if len(words) < 2:
            return
        rid, verb, args = words[0], words[1], words[2:]
        try:
            if verb == 'start' and args:
                reply = 'ok %d' % self.start(args[0], args[1:])
            elif verb == 'restart' and args:
                self.kill()
                reply = 'ok %d' % self.start(args[0], args[1:])
            elif verb == 'kill':
                self.kill()
                reply = 'ok %s' % self.last_status
            elif verb == 'store' and 1 <= len(args) <= 2:
                fd = os.open(args[1] if len(args) > 1 else '/dev/null', os.O_RDWR | os.O_CLOEXEC)
                self.serial += 1
                self.store.append([args[0], self.serial, fd])
                self.event('FDSTORE-BY-TEST %s %d' % (args[0], self.serial))
                self.write_store()
                reply = 'ok %d' % self.serial
            elif verb == 'dump':
                self.drain_notify()
                reply = 'ok\n' + self.store_text()
            else:
                reply = 'error unknown command %r' % line
        except Exception as e:  # reported to the test, the supervisor goes on
            reply = 'error %s' % e
        self.write_atomic(os.path.join(self.dir, 'reply.' + rid), reply + '\n')

    def read_control(self):
        while True:
            try:
                data = os.read(self.control, 4096)
            except (BlockingIOError, InterruptedError):
                break
            if not data:
                break
            self.control_buf += data
        while b'\n' in self.control_buf:
            line, self.control_buf = self.control_buf.split(b'\n', 1)
            self.command_line(line.decode('utf-8', 'replace'))

    def run(self):
        while True:
            for key, _ in self.sel.select(timeout=1.0):
                if key.data == 'notify':
                    self.drain_notify()
                elif key.data == 'control':
                    self.read_control()
                elif key.data == 'wake':
                    try:
                        while os.read(self.wake_r, 256):
                            pass
                    except (BlockingIOError, InterruptedError):
                        pass
            self.reap()
            if self.got_term:
                return self.stop()

    def stop(self):
        if self.child is not None:
            try:
                os.kill(self.child, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if not self.wait_child(60):
                self.kill()
        self.event('supervisor-exit %s' % self.last_status)
        return self.last_status if self.last_status is not None else 0


def fcntl_dupfd(fd, minimum):
    import fcntl
    return fcntl.fcntl(fd, fcntl.F_DUPFD, minimum)


def main():
    p = argparse.ArgumentParser(description='A fake systemd service manager with a file descriptor store.')
    p.add_argument('--dir', required=True, help='control FIFO, replies, events and store dump go here')
    p.add_argument('command', nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.command[1:] if a.command[:1] == ['--'] else a.command
    if not cmd:
        p.error('no command to supervise')
    os.makedirs(a.dir, exist_ok=True)
    sys.exit(Supervisor(a.dir, cmd).run())


if __name__ == '__main__':
    main()
