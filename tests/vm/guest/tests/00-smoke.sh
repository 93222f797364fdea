#!/bin/bash
# topologies: all
# The guest is up with systemd, udev and dbus, and the installed isolatectl runs.
set -eu
systemctl is-active systemd-udevd dbus
isolatectl --version
isolatectl list
