"""What leaves the box: webhooks (:mod:`agent.uplink.push`) delivered from the store's outbox."""
