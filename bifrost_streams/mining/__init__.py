"""Log-template mining: masking, stack-trace fingerprints and a per-service Drain3 miner.

Offline building blocks; nothing here talks to Kafka or to a model.
"""
