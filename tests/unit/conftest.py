# Copyright: (c) 2026, meshover contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

try:
    from ansible.module_utils import _internal as _ansible_internal
except ImportError:  # pragma: no cover - older ansible-core
    _ansible_internal = None


@pytest.fixture(autouse=True)
def _module_side_of_ansible(monkeypatch):
    """Importing ansible.errors (filters do) flips ansible-core into controller mode for the whole
    process, after which module.warn() goes to Display instead of the module result. Module tests
    must see module-side behaviour whatever ran before them."""
    if _ansible_internal is not None and hasattr(_ansible_internal, "is_controller"):
        monkeypatch.setattr(_ansible_internal, "is_controller", False)
