"""Whether two users have a confirmed (or past) stay together: asked by messaging,
answered by whichever app keeps stays.

Contact details are masked until such a stay exists (messaging.masking), but stays
are the listings app's, and messaging never imports listings. So listings installs
its answer here when it starts (`listings.apps.ListingsConfig.ready` calls
`stay_check_install`); without one installed, no stay is known and contact details are
masked between everyone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

StayCheck = Callable[[Any, Any], bool]
_installed: dict[str, StayCheck] = {}


def stay_check_install(check: StayCheck) -> None:
    """`check(user_a_id, user_b_id)`: True when the two have a confirmed or past stay
    together, as guest and host either way round. One query at most: it runs while a
    message is being sent, and only when that message holds a contact detail."""
    _installed["check"] = check


def stay_confirmed_between(a_id: Any, b_id: Any) -> bool:
    check = _installed.get("check")
    return bool(check and check(a_id, b_id))
