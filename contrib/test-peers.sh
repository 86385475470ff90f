#!/usr/bin/env bash
# Best-effort install of the system peers some integration tests run against (called by `make test`).
# Today: OpenSSH's sshd (apt package openssh-server), which the SFTP client tests meet as a server
# they did not write. Without root or apt the tests that need it skip with a reason; nothing fails here.
set -u
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] && getent passwd sshd >/dev/null 2>&1 && exit 0
[ "$(id -u)" = 0 ] || exit 0
command -v apt-get >/dev/null 2>&1 || exit 0
echo "test peers: installing openssh-server (for the SFTP client tests)" >&2
export DEBIAN_FRONTEND=noninteractive
{ apt-get update -qq && apt-get install -y -qq --no-install-recommends openssh-server; } >/dev/null 2>&1 \
  || echo "test peers: could not install openssh-server; those tests will skip" >&2
# Debian's package enables and may start the system sshd; the tests run their own on a loopback port.
command -v systemctl >/dev/null 2>&1 && systemctl disable --now ssh >/dev/null 2>&1
exit 0
