#!/usr/bin/env bash
# Installs the host packages the qemu lab needs (Debian 12). Quiet and quick when all are present.
set -euo pipefail
# chromium: verify renders the exporter's /mesh.html headless on the controller (issue 7)
# graphviz: verify draws the status playbook's -e format=dot with dot -Tsvg (issue 19)
# nftables: the unit tests check the firewall template with `nft -c` (issue 17)
# prometheus: its promtool checks the alert rules (make lint) and the exporter's output (make unit);
#   the server it also installs is not needed on the host and is stopped
pkgs=(qemu-system-x86 qemu-utils mmdebstrap e2fsprogs vde2 openssh-client rsync git make python3-venv chromium graphviz
  nftables prometheus)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# nodejs, npm: the unit tests run the Grafana dashboard's Node Graph data through Grafana's own frontend code
#   (make grafana-deps; Node.js >= 20.19: Debian 13's nodejs, or NodeSource's, which this project's machines
#   carry; Debian 12's nodejs 18 is too old and tests/grafana/install.sh says so); a node installed otherwise counts
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -eq 0 ]; then
  echo "host-deps: all present"
  exit 0
fi
echo "host-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
echo "host-deps: done"
