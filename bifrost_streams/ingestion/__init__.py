"""Ingestion: reading Kinesis shards, parsing log lines into entries, and turning entries into
analysis requests; also the bifrost-submit and bifrost-loggen command-line tools.
"""
