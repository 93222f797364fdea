#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Compare the D-Bus contract (dbus/org.isolate1.*.xml) with what a running isolated serves.

    introspect-diff.py --address ADDRESS [--service org.isolate1] XMLFILE OBJECT_PATH [XMLFILE OBJECT_PATH...]

For each pair, every interface declared in XMLFILE is compared with the same interface in
`busctl introspect --xml-interface SERVICE OBJECT_PATH`, structurally: each method's arguments (name,
type, direction, in order), each signal's arguments (name, type, in order), each property (name, type,
access). Comments, annotations and member order are ignored. Interfaces the daemon serves on that
object beyond the contract's (other than the standard org.freedesktop.DBus.* ones) are reported too.

Prints a readable difference and exits 1 if there is any, 0 if the daemon matches the contract, 2 on
usage errors or when the daemon cannot be introspected.
"""

import argparse
import subprocess
import sys
import xml.etree.ElementTree as ET

STANDARD_PREFIX = "org.freedesktop.DBus."


def parse_node(text, origin):
    """{interface name: {('method'|'signal'|'property', name): description}} of an introspection XML."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise SystemExit(f"{origin}: not valid introspection XML: {e}")
    if root.tag != "node":
        raise SystemExit(f"{origin}: the root element is <{root.tag}>, expected <node>")
    interfaces = {}
    for iface in root.findall("interface"):
        name = iface.get("name")
        if name in interfaces:
            raise SystemExit(f"{origin}: interface {name} is declared twice")
        members = {}

        def add(kind, mname, desc):
            key = (kind, mname)
            if key in members:
                raise SystemExit(f"{origin}: {kind} {name}.{mname} is declared twice")
            members[key] = desc

        for m in iface.findall("method"):
            # a method argument's direction defaults to "in"
            args = tuple((a.get("name") or "", a.get("type"), a.get("direction") or "in") for a in m.findall("arg"))
            add("method", m.get("name"), args)
        for s in iface.findall("signal"):
            # signal arguments are always sent ("out"); a direction attribute adds nothing
            args = tuple((a.get("name") or "", a.get("type")) for a in s.findall("arg"))
            add("signal", s.get("name"), args)
        for p in iface.findall("property"):
            add("property", p.get("name"), (p.get("type"), p.get("access")))
        interfaces[name] = members
    return interfaces


def describe(kind, desc):
    if kind == "method":
        return "(" + ", ".join(f"{d} {n}: {t}" for n, t, d in desc) + ")" if desc else "()"
    if kind == "signal":
        return "(" + ", ".join(f"{n}: {t}" for n, t in desc) + ")" if desc else "()"
    return f"{desc[0]}, access={desc[1]}"


def compare_interface(name, contract, live):
    """A list of human-readable differences between one interface's members."""
    out = []
    for key in sorted(set(contract) | set(live)):
        kind, mname = key
        if key not in live:
            out.append(f"  - {kind} {mname} {describe(kind, contract[key])}: in the contract, not served by the daemon")
        elif key not in contract:
            out.append(f"  + {kind} {mname} {describe(kind, live[key])}: served by the daemon, not in the contract")
        elif contract[key] != live[key]:
            out.append(f"  ~ {kind} {mname} differs:")
            out.append(f"      contract: {describe(kind, contract[key])}")
            out.append(f"      daemon:   {describe(kind, live[key])}")
    return out


def introspect(busctl, address, service, path):
    cmd = [busctl]
    if address:
        cmd.append(f"--address={address}")
    cmd += ["introspect", "--xml-interface", service, path]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"Cannot run {' '.join(cmd)}: {e}", file=sys.stderr)
        sys.exit(2)
    if p.returncode != 0:
        print(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}", file=sys.stderr)
        sys.exit(2)
    return p.stdout


def main():
    ap = argparse.ArgumentParser(description="Compare D-Bus contract XML files with a running service.")
    ap.add_argument("--address", help="the bus address (default: the system bus)")
    ap.add_argument("--service", default="org.isolate1")
    ap.add_argument("--busctl", default="busctl")
    ap.add_argument("pairs", nargs="+", metavar="XMLFILE OBJECT_PATH")
    args = ap.parse_args()
    if len(args.pairs) % 2:
        ap.error("expected pairs of XMLFILE OBJECT_PATH")

    differences = 0
    for xml_file, path in zip(args.pairs[0::2], args.pairs[1::2]):
        try:
            with open(xml_file, encoding="utf-8") as f:
                contract = parse_node(f.read(), xml_file)
        except OSError as e:
            print(f"Cannot read {xml_file}: {e}", file=sys.stderr)
            return 2
        if not contract:
            print(f"{xml_file} declares no interface", file=sys.stderr)
            return 2
        live = parse_node(introspect(args.busctl, args.address, args.service, path), f"{args.service} {path}")

        for iface in sorted(set(contract) | {i for i in live if not i.startswith(STANDARD_PREFIX)}):
            if iface not in live:
                print(f"{iface} at {path}: declared in {xml_file}, not served by the daemon")
                differences += 1
                continue
            if iface not in contract:
                print(f"{iface} at {path}: served by the daemon, not declared in {xml_file}")
                differences += 1
                continue
            lines = compare_interface(iface, contract[iface], live[iface])
            if lines:
                print(f"{iface} at {path} differs from {xml_file}:")
                print("\n".join(lines))
                differences += len([l for l in lines if not l.startswith("      ")])
            else:
                n = len(contract[iface])
                print(f"{iface} at {path}: matches {xml_file} ({n} members)")

    if differences:
        print(f"{differences} difference(s) between the contract and the daemon.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
