"""make bench: throughput and latency of the pipeline against bare baselines, one broker."""
