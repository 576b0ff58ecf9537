#!/usr/bin/python3
"""The exporter's FRR helper opens no session of FRR's mgmtd (run as root on a lab node by tasks/exporter.yml).

Why: in FRR 10.3 the end of any mgmtd session copies mgmtd's running configuration over its one shared
candidate (mgmtd/mgmt_fe_adapter.c, removed in FRR 10.4.0 by commit b12b4c28b4), so a vtysh that connects to
every daemon and exits while frr-reload.py's `vtysh -f` has sent edits it has not committed yet throws those
edits away in mgmtd (and zebra, its backend), while bgpd applies them: docs/routing.md.

How: session A (an interactive vtysh in FRR's own environment) deletes a test prefix-list entry inside
`configure terminal file-lock` and waits; meanwhile the host runs the "ender"; then A commits
(XFRR_end_configuration) and each daemon's running configuration is read. Two rounds:
- the product's helper (/usr/local/lib/meshover/meshover-frr-state, as its unit runs it) as the ender: the
  entry must be gone from mgmtd, zebra and bgpd;
- the control, a vtysh without -d as the ender: on FRR 10.3 mgmtd must say "No changes found to be
  committed!" and keep the entry. A control that loses nothing means this check cannot see the race
  (a fixed FRR), and the check fails saying so.
Argument: the JSON list of the vtysh argv prefix (playbooks/tasks/frr_vtysh.yml's frr_vtysh). Prints JSON;
exits 1 when a check failed. A node whose FRR has no mgmtd (FRR < 9) prints so and passes: the race needs mgmtd.
"""

import json
import subprocess
import sys
import time

HELPER = "/usr/local/lib/meshover/meshover-frr-state"
LINE = "ip prefix-list MO-MGMTD-CHECK seq 5 permit 192.0.2.0/24"
# Session A, in FRR's environment (the container, or the host with the package). Flags in /tmp there.
SESSION_A = r"""
set -u
L='@LINE@'
count() {
    for d in mgmtd zebra bgpd; do
        printf '%s=%s ' "$d" "$(vtysh -d "$d" -c 'show running-config' | grep -c MO-MGMTD-CHECK)"
    done
}
rm -f /tmp/mo-f /tmp/mo-ready /tmp/mo-go /tmp/mo-a.out
vtysh -c 'configure terminal' -c "$L" >/dev/null
echo "before: $(count)"
mkfifo /tmp/mo-f
vtysh < /tmp/mo-f > /tmp/mo-a.out 2>&1 &
v=$!
exec 3>/tmp/mo-f
echo 'configure terminal file-lock' >&3
echo "no $L" >&3
# the deletion is in mgmtd's candidate once vtysh printed its prompt after it (the second "(config)#")
i=0
while [ "$(grep -o '(config)#' /tmp/mo-a.out | wc -l)" -lt 2 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
touch /tmp/mo-ready
i=0
while [ ! -e /tmp/mo-go ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
echo 'XFRR_end_configuration' >&3
echo 'end' >&3
exec 3>&-
wait $v
echo "said: $(tr '\n' ' ' < /tmp/mo-a.out)"
echo "after: $(count)"
vtysh -c 'configure terminal' -c 'no ip prefix-list MO-MGMTD-CHECK' >/dev/null 2>&1
rm -f /tmp/mo-f /tmp/mo-ready /tmp/mo-go /tmp/mo-a.out
""".replace("@LINE@", LINE)


def run(argv, timeout=120):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def counts(text, label):
    """{daemon: entries} from session A's line `label: mgmtd=N zebra=N bgpd=N`."""
    line = next((x for x in text.splitlines() if x.startswith(label + ":")), "")
    return {k: int(v) for k, v in (kv.split("=") for kv in line.split(":", 1)[-1].split())}


def round_with(env, ender) -> dict:
    """One deletion in session A with `ender` run meanwhile; what each daemon runs afterwards."""
    a = subprocess.Popen([*env, "sh", "-c", SESSION_A], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline, ready = time.monotonic() + 90, False
    while time.monotonic() < deadline and a.poll() is None:
        if run([*env, "test", "-e", "/tmp/mo-ready"]).returncode == 0:
            ready = True
            break
        time.sleep(0.5)
    ended = run(ender) if ready else None
    run([*env, "touch", "/tmp/mo-go"])
    out, _ = a.communicate(timeout=180)
    return {
        "session A ready": ready,
        "ender rc": ended.returncode if ended else None,
        "ender answered bytes": len(ended.stdout) if ended else 0,
        "before": counts(out, "before"),
        "after": counts(out, "after"),
        "mgmtd said no changes": "No changes found to be committed" in out,
    }


def main() -> int:
    vtysh = json.loads(sys.argv[1])
    env = vtysh[:-1]  # [] (package) or [podman|docker, exec, <container>]
    out: dict = {"vtysh": vtysh}
    out["mgmtd"] = run([*vtysh, "-d", "mgmtd", "-c", "show version"]).returncode == 0
    version = run([*vtysh, "-d", "zebra", "-c", "show version"]).stdout.split()
    out["frr version"] = version[1] if len(version) > 1 else ""
    if not out["mgmtd"]:
        major = out["frr version"].split(".")[0]
        out["checks"] = {"FRR without mgmtd (before 9.0): nothing to check": major.isdigit() and int(major) < 9}
    else:
        out["helper"] = round_with(env, [HELPER])
        out["control"] = round_with(env, [*vtysh, "-c", "show version"])
        h, c = out["helper"], out["control"]
        out["checks"] = {
            "each round ran (the entry was there, session A got ready, the ender answered)": all(
                r["session A ready"]
                and r["before"] == {"mgmtd": 1, "zebra": 1, "bgpd": 1}
                and r["ender answered bytes"]
                for r in (h, c)
            ),
            "with the exporter's helper meanwhile, the deletion reached every daemon": h["after"]
            == {"mgmtd": 0, "zebra": 0, "bgpd": 0}
            and not h["mgmtd said no changes"],
            "the control (a vtysh without -d) lost the deletion in mgmtd: this check sees the race": c["after"].get(
                "mgmtd"
            )
            == 1
            and c["mgmtd said no changes"],
        }
    out["failed"] = [k for k, ok in out["checks"].items() if not ok]
    print(json.dumps(out, indent=1))
    return 1 if out["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
