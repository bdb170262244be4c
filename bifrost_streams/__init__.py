"""bifrost-streams: error logs in, analyses out, over Kafka."""
__version__ = "0.1.0"
