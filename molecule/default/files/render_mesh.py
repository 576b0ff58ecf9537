#!/usr/bin/env python3
# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Renders an exporter's /mesh.html in headless Chromium ON THE CONTROLLER and checks what it shows.

Usage: render_mesh.py --nodes n1,n2,n3 --edges 3 [--up 3] [--timeout 60] < mesh.html

The page (read from stdin) is written to a fresh temp dir and opened from file:// with a fresh
--user-data-dir and the flags that keep Chromium from reaching any outside host. Two runs:
--dump-dom (the DOM after parsing and any script) and --screenshot (the painted pixels). Checks:
the DOM has exactly the given nodes (one SVG group and one table row each) and the given number of
edges (SVG lines and table rows), and the screenshot shows every node's circle and the edges
(pixels of the page's node and edge colours). Each Chromium run has a timeout and its whole process
group is killed afterwards. Prints one JSON line; exit 1 on a failed check.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zlib

FLAGS = [
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NODE_FILL = (0x15, 0x65, 0xC0)  # a node that answered (render_mesh_html)
EDGE_COLOURS = {"up": (0x2E, 0x7D, 0x32), "partial": (0xEF, 0x6C, 0x00), "down": (0xC6, 0x28, 0x28)}


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("render_mesh: no chromium on the controller (molecule/lab/host-deps.sh installs it)")


def run_chromium(args: list[str], profile: str, timeout: float) -> subprocess.CompletedProcess:
    flags = FLAGS + (["--no-sandbox"] if os.geteuid() == 0 else [])
    cmd = [chromium_binary(), *flags, f"--user-data-dir={profile}", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        sys.exit(f"render_mesh: chromium did not finish within {timeout} s (killed)")
    finally:
        try:  # renderer/zygote children outlive the browser process sometimes
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit non-interlaced RGB/RGBA PNG (what Chromium writes)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if ctype == b"IHDR":
            width, height, depth, colour, _c, _f, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or colour not in (2, 6) or interlace:
                raise ValueError(f"unsupported PNG (depth {depth}, colour {colour}, interlace {interlace})")
            bpp = 3 if colour == 2 else 4
        elif ctype == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        ftype, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, bpp, rows


def colour_counts(png: bytes) -> dict[tuple[int, int, int], int]:
    width, bpp, rows = png_pixels(png)
    counts: dict[tuple[int, int, int], int] = {}
    for row in rows:
        for x in range(width):
            rgb = tuple(row[x * bpp : x * bpp + 3])
            counts[rgb] = counts.get(rgb, 0) + 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", required=True, help="comma-separated hosts the page must show")
    parser.add_argument("--edges", type=int, required=True, help="number of edges the page must show")
    parser.add_argument("--up", type=int, default=None, help="how many of them must be up (green)")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    nodes = sorted(n for n in args.nodes.split(",") if n)
    page = sys.stdin.read()
    failures = []
    with tempfile.TemporaryDirectory(prefix="meshover-chromium-") as tmp:
        html_file = os.path.join(tmp, "mesh.html")
        with open(html_file, "w", encoding="utf-8") as fh:
            fh.write(page)
        url = "file://" + html_file
        dom = run_chromium(["--dump-dom", url], os.path.join(tmp, "profile-dom"), args.timeout).stdout
        shot = os.path.join(tmp, "mesh.png")
        run_chromium(
            [f"--screenshot={shot}", "--window-size=800,700", "--hide-scrollbars", url],
            os.path.join(tmp, "profile-shot"),
            args.timeout,
        )
        png = open(shot, "rb").read() if os.path.exists(shot) else b""
    svg_nodes = sorted(re.findall(r'<g class="node" data-id="([^"]+)"', dom))
    svg_edges = re.findall(r'<line class="edge (\w+)" data-id="([^"]+)"', dom)
    table = dom.split('<table id="edges">', 1)[-1].split("</table>", 1)[0] if '<table id="edges">' in dom else ""
    edge_rows = re.findall(r'<tr class="(\w+)"><td>([^<]+)</td>', table)
    if svg_nodes != nodes:
        failures.append(f"SVG nodes {svg_nodes} != {nodes}")
    if len(svg_edges) != args.edges or len({e for _s, e in svg_edges}) != args.edges:
        failures.append(f"SVG edges {svg_edges}: expected {args.edges} distinct")
    if sorted(e for _s, e in edge_rows) != sorted(e for _s, e in svg_edges):
        failures.append(f"edge table {edge_rows} does not match the SVG {svg_edges}")
    states = [s for s, _e in svg_edges]
    if args.up is not None and states.count("up") != args.up:
        failures.append(f"edge states {states}: expected {args.up} up")
    painted = {}
    if not png:
        failures.append("chromium wrote no screenshot")
    else:
        counts = colour_counts(png)
        painted = {"node": counts.get(NODE_FILL, 0)}
        painted.update({s: counts.get(c, 0) for s, c in EDGE_COLOURS.items()})
        # a circle of radius 28 is ~2,400 pixels; an edge 4 px wide and >100 px long is >400
        if painted["node"] < 1500 * len(nodes):
            failures.append(f"screenshot: {painted['node']} node pixels for {len(nodes)} nodes")
        for state in set(states) & set(EDGE_COLOURS):
            if painted[state] < 300 * states.count(state):
                failures.append(f"screenshot: {painted[state]} pixels of {state} edges")
    result = {
        "nodes": svg_nodes,
        "edges": sorted(e for _s, e in svg_edges),
        "states": states,
        "pixels": painted,
        "dom_bytes": len(dom),
        "failures": failures,
    }
    print(json.dumps(result))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
