# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stand-in for ansible-test's pip bootstrap script (get-pip.py).

ansible-test downloads get-pip.py from a host this network cannot reach. It runs the script with
pip's command line; this one runs pip from the wheel bundled with Python's own ensurepip, which then
installs the requested pip version from PyPI. The Makefile copies it to ~/.ansible/test/cache/.
"""

from __future__ import annotations

import glob
import os
import sys

import ensurepip

wheel = sorted(glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl")))[-1]
sys.path.insert(0, wheel)

from pip._internal.cli.main import main  # noqa: E402

# Like get-pip.py: an implicit `install`, and its own --no-setuptools/--no-wheel switches.
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", "--upgrade", "--force-reinstall", *args]))
