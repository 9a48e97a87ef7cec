"""The channels of GoIP boxes as lines of the agent, over the boxes' UDP SMS interface."""
