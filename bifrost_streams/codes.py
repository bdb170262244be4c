"""Error codes carried by FAILED results and dlq.failed events."""

# The request could not be parsed: a DLQ event only, no result (there is no job to answer).
INVALID_JSON = "INVALID_JSON"
INVALID_REQUEST = "INVALID_REQUEST"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
UNSUPPORTED_SCHEMA_VERSION = "UNSUPPORTED_SCHEMA_VERSION"

# The request parsed but could not be served: a FAILED result and one DLQ event.
LOG_NOT_FOUND = "LOG_NOT_FOUND"
LOG_SOURCE_UNAVAILABLE = "LOG_SOURCE_UNAVAILABLE"
MODEL_UNAVAILABLE = "MODEL_UNAVAILABLE"
MODEL_INVALID_ANSWER = "MODEL_INVALID_ANSWER"
TIMEOUT = "TIMEOUT"
INTERNAL_ERROR = "INTERNAL_ERROR"


class JobFailed(Exception):
    """A parsed request that cannot be served; becomes a FAILED result plus one DLQ event."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
