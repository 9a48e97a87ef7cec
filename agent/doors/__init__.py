"""The binary doors: an SMPP 3.4 server and a CMPP 2.0/3.0 server on the agent's one queue.

:mod:`listener` owns the sockets (one thread and one selector per door),
:mod:`smpp` and :mod:`cmpp` the sessions of each protocol, :mod:`intake` what a
submission becomes in the queue, :mod:`feed` what waits in the outbox for a
door (receipts and received messages), :mod:`ids` the message ids a door gives
out, and :mod:`door` puts one door together.
"""
