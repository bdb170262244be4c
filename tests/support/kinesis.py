"""A real Kinesis HTTP endpoint on 127.0.0.1 (moto's server), started and stopped by the test."""
from __future__ import annotations

from typing import Iterable, List, Tuple

import boto3

from tests.support.services import free_port, wait_for

CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test",
               "region_name": "us-east-1"}


class MotoKinesis:
    def __init__(self) -> None:
        self.port = free_port()
        self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "MotoKinesis":
        from moto.server import ThreadedMotoServer
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def client(self):
        return boto3.client("kinesis", endpoint_url=self.url, **CREDENTIALS)

    def create_stream(self, name: str, shards: int) -> List[str]:
        client = self.client()
        client.create_stream(StreamName=name, ShardCount=shards)
        wait_for(lambda: client.describe_stream_summary(StreamName=name)
                 ["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE", 30, "stream ACTIVE")
        return [s["ShardId"] for s in client.list_shards(StreamName=name)["Shards"]]

    def put(self, name: str, records: Iterable[Tuple[str, bytes]]) -> List[Tuple[str, str]]:
        """Put (partition key, data) records in order; their (shard id, sequence number)."""
        client = self.client()
        placed: List[Tuple[str, str]] = []
        batch = list(records)
        for start in range(0, len(batch), 500):
            chunk = batch[start:start + 500]
            response = client.put_records(StreamName=name, Records=[
                {"PartitionKey": key, "Data": data} for key, data in chunk])
            assert response["FailedRecordCount"] == 0, response
            placed += [(r["ShardId"], r["SequenceNumber"]) for r in response["Records"]]
        return placed
