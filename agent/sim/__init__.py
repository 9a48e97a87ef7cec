"""The simulated modem bank: AT modems on pseudo-terminals for tests and hardware-less runs.

``SimBank(4, state_dir=...)`` gives modems ``sim1``..``sim4`` whose stable
paths (symlinks to ptys) a pyserial client opens like a USB modem.
"""

from .bank import SimBank
from .modem import SimModem
from .profiles import PROFILES, PeriodicUrc, Profile

__all__ = ["PROFILES", "PeriodicUrc", "Profile", "SimBank", "SimModem"]
