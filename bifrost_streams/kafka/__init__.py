"""Kafka underneath Faust: the transport with our commit rules (transport.py), events held in
batches until their outcomes are out (batching.py), topics and their partition counts
(topics.py), reading a request back by its offset (originals.py) and the embedded broker for a
local start (embedded.py)."""
