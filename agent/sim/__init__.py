"""The simulated modem bank: AT modems on pseudo-terminals for tests and hardware-less runs.

``SimBank(4, state_dir=...)`` gives modems ``sim1``..``sim4`` whose stable
paths (symlinks to ptys) a pyserial client opens like a USB modem.
``SimGoip(("127.0.0.1", port), 4)`` gives a GoIP box whose channels
``goip01``..``goip04`` register over UDP with the SMS server at ``port``.
"""

from .bank import SimBank
from .goip_box import NetworkSend, SimGoip
from .goip_channel import ChannelSpec
from .modem import SimModem
from .profiles import PROFILES, PeriodicUrc, Profile

__all__ = ["PROFILES", "ChannelSpec", "NetworkSend", "PeriodicUrc", "Profile", "SimBank", "SimGoip", "SimModem"]
