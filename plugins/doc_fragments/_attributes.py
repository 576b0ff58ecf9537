# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to meshover.mesh: this doc fragment is not part of the collection's public API.

from __future__ import annotations


class ModuleDocFragment:
    """Standard attribute documentation shared by the meshover.mesh modules."""

    # Standard documentation: every module extends this and sets `support` per attribute.
    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
"""

    # Modules that read and report, or change only what check mode predicts without a diff to show.
    READ_ONLY = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
"""

    # Modules that only work on Linux (data plane: wireguard, GRE, FRR).
    PLATFORM_LINUX = r"""
attributes:
  platform:
    platforms: posix
    description: Target OS/families that can be operated against.
    support: full
"""

    # Modules that run on the Ansible controller only (delegate_to localhost, run_once).
    CONTROLLER = r"""
attributes:
  platform:
    platforms: posix
    description: Runs on the Ansible controller (use with C(delegate_to=localhost) and C(run_once=true)).
    support: full
"""

    # Actions that run whole in the controller's process: no module is sent to a host.
    ACTION = r"""
attributes:
  action:
    description: >-
      Indicates this has a corresponding action plugin so some parts of the options can be executed on the
      controller.
    support: full
  platform:
    platforms: posix
    description: Runs in the Ansible controller's own process; no module is sent to a host, no connection is opened.
    support: full
"""
