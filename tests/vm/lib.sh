# Shared helpers of the VM tier (sourced by tests/vm/*). Bash.
# The cache lives outside the source tree and is keyed on the inputs of what it holds.

vm_die() { echo "vm: error: $*" >&2; exit 1; }
vm_log() { echo "vm: $*" >&2; }

vm_cache_dir() {
    if [ -n "${ISOLATE_VM_CACHE:-}" ]; then
        echo "$ISOLATE_VM_CACHE"
    elif [ "$(id -u)" = 0 ]; then
        echo /var/cache/isolate-vm
    else
        echo "${XDG_CACHE_HOME:-$HOME/.cache}/isolate-vm"
    fi
}

# The linux-source package the guest kernel is built from (newest available 6.12).
vm_kernel_pkg() { echo "${ISOLATE_VM_KERNEL_PKG:-linux-source-6.12}"; }

vm_kernel_version() {
    local v
    v=$(apt-cache policy "$(vm_kernel_pkg)" 2>/dev/null | awk '/Candidate:/ {print $2}')
    [ -n "$v" ] && [ "$v" != "(none)" ] || vm_die "package $(vm_kernel_pkg) is not available from apt (is bookworm-security enabled? run apt-get update)"
    echo "$v"
}

vm_sha() { sha256sum | cut -c1-16; }
