#!/bin/bash
# topologies: default
# The real polkitd deciding org.isolate1.manage for unprivileged callers of isolatectl. Rules in
# /etc/polkit-1/rules.d/: members of the group isolate-admin are granted the action (the rule of
# docs/examples/50-isolate-admin.rules), one user is refused (polkit.Result.NO), one must authenticate
# as an administrator (AUTH_ADMIN). isolated asks polkit asynchronously and runs the method call again
# when the answer arrives: the granted user's call must return the real result (the device really
# changes state, a real error comes back for a device that does not exist), the others' must fail with
# isolatectl's words for a refusal and for a required authentication, and nothing may change.
. /usr/lib/isolate-vm/lib.bash
EDU=0000:00:03.0
OK_USER=isopk-admin     # in the group isolate-admin: granted
NO_USER=isopk-refused   # polkit.Result.NO
ASK_USER=isopk-ask      # polkit.Result.AUTH_ADMIN (a password would be needed)
RULES=/etc/polkit-1/rules.d/40-isolate-vm-test.rules

require "polkitd is installed" test -x /usr/lib/polkit-1/polkitd
require "isolatectl is installed" test -x /usr/bin/isolatectl
getent group isolate-admin >/dev/null || groupadd --system isolate-admin
for u in $OK_USER $NO_USER $ASK_USER; do
    id $u >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin $u
done
usermod -a -G isolate-admin $OK_USER
require "users exist, $OK_USER in isolate-admin" bash -c "id -nG $OK_USER | grep -qw isolate-admin"

mkdir -p /etc/polkit-1/rules.d
cat > $RULES <<EOF
// The grant of docs/examples/50-isolate-admin.rules:
polkit.addRule(function(action, subject) {
    if (action.id == "org.isolate1.manage" && subject.isInGroup("isolate-admin"))
        return polkit.Result.YES;
});
polkit.addRule(function(action, subject) {
    if (action.id == "org.isolate1.manage" && subject.user == "$NO_USER")
        return polkit.Result.NO;
});
polkit.addRule(function(action, subject) {
    if (action.id == "org.isolate1.manage" && subject.user == "$ASK_USER")
        return polkit.Result.AUTH_ADMIN;
});
EOF
chmod 0644 $RULES
# polkitd reads rules.d at start (and on inotify changes): restart it so the test does not race the reload.
systemctl restart polkit
require "polkitd is on the bus" wait_for 20 busctl status org.freedesktop.PolicyKit1

write_policy <<'JSON'
{ "version": 1, "defaults": { "mode": "blocked" },
  "rules": [ { "id": "edu-b", "match": { "slot": "0000:00:03.0" }, "passthrough": "allow" } ] }
JSON
require "isolated started" start_daemon
[ -n "$(driver_of $EDU)" ] && [ "$(driver_of $EDU)" != vfio-pci ] && echo $EDU > /sys/bus/pci/devices/$EDU/driver/unbind
require "$EDU quarantined by root" isolatectl quarantine $EDU
require "released to the host by root (so that a quarantine is a change)" isolatectl release --to=host $EDU
require "$EDU is not quarantined" not_state $EDU quarantined

# as USER CMD...: an unprivileged call with the user's groups, no environment; output to /tmp/out, rc echoed.
as() {
    local user=$1; shift
    local rc=0
    setpriv --reuid=$user --regid=$user --init-groups --reset-env "$@" >/tmp/out 2>&1 || rc=$?
    sed "s/^/    [$user rc=$rc] /" /tmp/out
    return $rc
}
out_has() { grep -qF -- "$1" /tmp/out; }
refused() { ! as "$@"; }

echo "== $NO_USER: polkit says no"
check "quarantine is refused" refused $NO_USER isolatectl --no-ask-password quarantine $EDU
check "saying polkit denied the action" out_has "Not authorized: polkit denied org.isolate1.manage."
check "not that polkit could not be asked" bash -c "! grep -q 'could not be asked\|cannot be asked' /tmp/out"
check "$EDU is still not quarantined (nothing ran)" not_state $EDU quarantined
check "quarantine of a device that does not exist is refused too" refused $NO_USER isolatectl --no-ask-password quarantine 0000:00:1e.7
check "by polkit: authorization comes before the operation" out_has "polkit denied"
check "reload is refused" refused $NO_USER isolatectl --no-ask-password reload
check "saying polkit denied the action" out_has "Not authorized: polkit denied org.isolate1.manage."

echo "== $ASK_USER: polkit wants an administrator's password, and --no-ask-password forbids asking"
check "quarantine is refused" refused $ASK_USER isolatectl --no-ask-password quarantine $EDU
check "as needing authentication (InteractiveAuthorizationRequired)" out_has "Authentication is required (polkit action org.isolate1.manage)."
check "not as denied" bash -c "! grep -q 'polkit denied\|could not be asked' /tmp/out"
check "$EDU is still not quarantined" not_state $EDU quarantined
check "reload is refused the same way" refused $ASK_USER isolatectl --no-ask-password reload
check "as needing authentication" out_has "Authentication is required"

echo "== $OK_USER: granted by the group rule; the call runs again after polkit's answer and returns its real result"
uid=$(id -u $OK_USER)
check "quarantine succeeds" as $OK_USER isolatectl --no-ask-password quarantine $EDU
check "$EDU really is quarantined" is_state $EDU quarantined
check "the audit record names $OK_USER as the caller" wait_for 10 bash -c \
    "journalctl -o export MESSAGE_ID=5d0a5f2e7c1e4a1b9a3c0f0e8d7b6a52 ISOLATE_CALLER_UID=$uid ISOLATE_DEVICE=$EDU | grep -q '^ISOLATE_ACTION=quarantine'"
check "reload succeeds" as $OK_USER isolatectl --no-ask-password reload
check "and says so" out_has "Policy reloaded."
# A real error after the authorization: the re-dispatched call reaches the operation (a device that does
# not exist is only found out there, after polkit), and its error comes back, not an authorization one.
check "quarantine of a device that does not exist fails" refused $OK_USER isolatectl --no-ask-password quarantine 0000:00:1e.7
check "with the operation's error, not an authorization error" bash -c "! grep -q 'Not authorized\|Authentication is required\|polkit' /tmp/out && grep -q '00:1e.7' /tmp/out"
check "release to the host succeeds" as $OK_USER isolatectl --no-ask-password release --to=host $EDU
check "$EDU really left quarantine" not_state $EDU quarantined
check "quarantine again" as $OK_USER isolatectl --no-ask-password quarantine $EDU
check "$EDU quarantined" is_state $EDU quarantined

echo "== several calls waiting for polkit at once all get their own answer"
pids=()
for i in 1 2 3 4; do
    setpriv --reuid=$OK_USER --regid=$OK_USER --init-groups --reset-env isolatectl --no-ask-password quarantine $EDU >/tmp/par-$i 2>&1 &
    pids+=($!)
done
setpriv --reuid=$NO_USER --regid=$NO_USER --init-groups --reset-env isolatectl --no-ask-password quarantine $EDU >/tmp/par-no 2>&1 &
nopid=$!
ok=0
for p in "${pids[@]}"; do wait $p && ok=$((ok + 1)); done
check "4 granted calls in parallel succeed ($ok)" [ $ok = 4 ]
norc=0; wait $nopid || norc=$?
check "a refused call among them is refused" bash -c "[ $norc != 0 ] && grep -q 'polkit denied' /tmp/par-no"

rm -f $RULES
systemctl restart polkit
finish
