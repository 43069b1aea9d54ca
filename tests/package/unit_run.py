#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Start an installed systemd service the way systemd would, where systemd is
not PID 1 (containers, CI): tests/package/run.sh runs the package's own units.

  unit_run.py SERVICE-UNIT [--socket SOCKET-UNIT] --log FILE

Reads the unit files and applies what decides whether the service works for
its clients: [Service] User=, Group= (plus the user's supplementary groups,
as systemd's initgroups), Environment=, ExecStart=, RuntimeDirectory= and
RuntimeDirectoryMode= (created and handed to User:Group, as systemd does),
StandardInput=socket with the [Socket] unit's ListenStream=, SocketUser=,
SocketGroup=, SocketMode=, DirectoryMode= and Backlog= (bound here as root,
passed on fd 0). Standard output and error go to FILE. The sandboxing
directives (ProtectSystem=, PrivateTmp=, ...) and LimitNOFILE= are not
applied; each one met is printed to stderr. Then this process becomes
ExecStart (exec), so its pid is the daemon's.
"""
import argparse
import grp
import os
import pwd
import shlex
import socket
import sys

APPLIED = {
    "Service": {"User", "Group", "Environment", "ExecStart", "RuntimeDirectory", "RuntimeDirectoryMode",
                "StandardInput", "StandardOutput", "StandardError", "Type"},
    "Socket": {"ListenStream", "SocketUser", "SocketGroup", "SocketMode", "DirectoryMode", "Backlog", "Accept"},
}


def parse_unit(path):
    """{section: [(key, value), ...]} of a unit file (no drop-ins)."""
    sections, cur = {}, None
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                cur = sections.setdefault(line[1:-1], [])
                continue
            key, _, value = line.partition("=")
            cur.append((key.strip(), value.strip()))
    return sections


def last(entries, key, default=None):
    value = default
    for k, v in entries:
        if k == key:
            value = v
    return value


def note_ignored(name, entries, section):
    ignored = sorted({k + "=" for k, _ in entries if k not in APPLIED[section]})
    if ignored:
        print(f"unit_run: {name}: not applied without systemd: {' '.join(ignored)}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("service")
    ap.add_argument("--socket")
    ap.add_argument("--log", required=True)
    a = ap.parse_args()

    svc = parse_unit(a.service).get("Service", [])
    note_ignored(os.path.basename(a.service), svc, "Service")
    user = last(svc, "User", "root")
    pw = pwd.getpwnam(user)
    gid = grp.getgrnam(last(svc, "Group")).gr_gid if last(svc, "Group") else pw.pw_gid

    for d in (last(svc, "RuntimeDirectory") or "").split():
        path = os.path.join("/run", d)
        os.makedirs(path, exist_ok=True)
        os.chown(path, pw.pw_uid, gid)
        os.chmod(path, int(last(svc, "RuntimeDirectoryMode", "0755"), 8))

    if last(svc, "StandardInput") == "socket":
        if not a.socket:
            sys.exit("unit_run: StandardInput=socket needs --socket")
        sock = parse_unit(a.socket).get("Socket", [])
        note_ignored(os.path.basename(a.socket), sock, "Socket")
        path = last(sock, "ListenStream")
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, mode=int(last(sock, "DirectoryMode", "0755"), 8))
        if os.path.exists(path):
            os.unlink(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        su, sg = last(sock, "SocketUser"), last(sock, "SocketGroup")
        os.chown(path, pwd.getpwnam(su).pw_uid if su else 0, grp.getgrnam(sg).gr_gid if sg else 0)
        os.chmod(path, int(last(sock, "SocketMode", "0666"), 8))
        s.listen(int(last(sock, "Backlog", "4096")))
        os.dup2(s.fileno(), 0)
        s.close()
        os.set_inheritable(0, True)
    else:
        fd = os.open("/dev/null", os.O_RDONLY)
        os.dup2(fd, 0)
        os.close(fd)

    log = os.open(a.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)

    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "USER": user, "LOGNAME": user, "HOME": pw.pw_dir, "SHELL": pw.pw_shell}
    for k, v in svc:
        if k == "Environment":
            for assignment in shlex.split(v):
                name, _, value = assignment.partition("=")
                env[name] = value
    argv = shlex.split(last(svc, "ExecStart"))

    os.initgroups(user, gid)
    os.setgid(gid)
    os.setuid(pw.pw_uid)
    os.execve(argv[0], argv, env)


if __name__ == "__main__":
    main()
