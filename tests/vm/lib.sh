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

# tests/vm/run --kernel debian: Debian's packaged kernel, the linux-image-6.1.0-NN-amd64 that bookworm's
# linux-image-amd64 (its candidate version) depends on.
vm_debian_kernel_pkg() {
    if [ -n "${ISOLATE_VM_DEBIAN_KERNEL_PKG:-}" ]; then
        echo "$ISOLATE_VM_DEBIAN_KERNEL_PKG"
        return
    fi
    local meta p
    meta=$(apt-cache policy linux-image-amd64 2>/dev/null | awk '/Candidate:/ {print $2}')
    [ -n "$meta" ] && [ "$meta" != "(none)" ] || vm_die "package linux-image-amd64 is not available from apt (run apt-get update)"
    p=$(apt-cache depends "linux-image-amd64=$meta" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}')
    [ -n "$p" ] || vm_die "linux-image-amd64 $meta depends on no linux-image-VERSION package"
    echo "$p"
}

# vm_lock NAME: holds an exclusive lock NAME in the cache until the script exits (fd 9).
vm_lock() {
    local cache
    cache=$(vm_cache_dir)
    mkdir -p "$cache"
    exec 9>"$cache/.lock-$1"
    if ! flock -n 9; then
        vm_log "waiting for another run that builds $1"
        flock 9
    fi
}
