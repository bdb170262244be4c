"""The deterministic fallback: well-known failure signatures, answered without a model.

Used when no model answers. Its confidence is honest: a signature match says what failed,
not why in this system, so it never claims more than 0.6; an unknown error gets 0.1.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from .base import Answer, Prompt

MODEL = "rules-v1"


@dataclass(frozen=True)
class Signature:
    name: str
    pattern: re.Pattern
    summary: str
    root_cause: str
    recommendation: str
    severity: str
    confidence: float


def _sig(name: str, pattern: str, summary: str, root_cause: str, recommendation: str,
         severity: str, confidence: float = 0.5) -> Signature:
    return Signature(name, re.compile(pattern, re.I), summary, root_cause, recommendation,
                     severity, confidence)


# Most specific first: the first match wins.
SIGNATURES: List[Signature] = [
    _sig("k8s_oomkilled", r"\bOOMKilled\b|exit code 137",
         "A container was killed for exceeding its memory limit (OOMKilled).",
         "The process used more memory than its Kubernetes limit allows.",
         "Compare the pod's memory usage with its limit; raise the limit or fix the leak.",
         "HIGH", 0.6),
    _sig("k8s_crashloop", r"CrashLoopBackOff",
         "A pod is restarting repeatedly (CrashLoopBackOff).",
         "The container exits shortly after start; its own log holds the first error.",
         "Read the previous container log (kubectl logs --previous) and fix the start-up error.",
         "HIGH", 0.55),
    _sig("heap", r"OutOfMemoryError|Java heap space|MemoryError|out of memory|"
                 r"Cannot allocate memory",
         "The process ran out of memory.",
         "Heap or process memory was exhausted, by load or by a leak.",
         "Check memory usage over time and heap dumps; raise the limit only after ruling out "
         "a leak.",
         "CRITICAL", 0.55),
    _sig("disk_full", r"No space left on device|disk (is )?full|ENOSPC|"
                      # Up to the next "disk usage" only: ".*" searched from each of many
                      # "disk usage" in one line read the rest of the line each time.
                      r"disk usage (?:(?!disk usage )[^\n])*?9\d%",
         "A disk is full or nearly full.",
         "The volume has no free space left for writes.",
         "Free space (logs, temp files) or grow the volume; add an alert on disk usage.",
         "HIGH", 0.6),
    _sig("fd_exhausted", r"Too many open files|EMFILE",
         "The process ran out of file descriptors.",
         "Open files or sockets exceed the descriptor limit, often a connection leak.",
         "Check open descriptors (lsof) for leaks and the ulimit for the service.",
         "HIGH", 0.55),
    _sig("tls", r"\bTLS\b|\bSSL\b|certificate (has )?expired|handshake fail|x509",
         "A TLS handshake failed.",
         "A certificate is expired, untrusted or does not match the host name.",
         "Check the certificate chain and expiry of the endpoint and the client's trust store.",
         "HIGH", 0.5),
    _sig("dns", r"Name or service not known|NXDOMAIN|UnknownHostException|"
                r"could not resolve host|getaddrinfo|no such host",
         "A host name could not be resolved.",
         "DNS has no record for the host, or the resolver is unreachable.",
         "Check the host name in configuration and the cluster's DNS service.",
         "HIGH", 0.55),
    _sig("refused", r"connection refused|ECONNREFUSED|Connection reset by peer",
         "A connection to a dependency was refused.",
         "Nothing listens on the target port: the dependency is down or restarting.",
         "Check that the dependency is running and reachable on that host and port.",
         "HIGH", 0.5),
    _sig("timeout", r"timed? ?out|timeout|deadline exceeded|ETIMEDOUT",
         "A call to a dependency timed out.",
         "The dependency is slow or overloaded, or the network between them drops packets.",
         "Check the dependency's latency and saturation; review timeouts and retries.",
         "MEDIUM", 0.45),
    _sig("rate_limited", r"\b429\b|rate limit|too many requests|throttl",
         "Requests were rate limited.",
         "The caller exceeds a quota of the service it calls.",
         "Reduce the request rate (back-off, batching) or raise the quota.",
         "MEDIUM", 0.5),
    _sig("auth", r"permission denied|access denied|unauthori[sz]ed|\b401\b|\b403\b|forbidden|"
                 r"authentication failed|EACCES",
         "An operation was denied for lack of permission.",
         "Credentials are missing, expired or lack the needed permission.",
         "Check the credentials in use and the permissions granted to them.",
         "HIGH", 0.5),
    _sig("deadlock", r"deadlock",
         "Transactions deadlocked.",
         "Concurrent transactions lock the same rows in a different order.",
         "Find the competing statements in the database log and take locks in one order.",
         "MEDIUM", 0.5),
    _sig("null_pointer", r"NullPointerException|NoneType' object has no attribute|"
                         r"nil pointer dereference|null reference",
         "The code dereferenced a null value.",
         "A value the code expects is missing: a bug or unexpected input.",
         "Fix the code path in the top stack frame; validate the input it received.",
         "MEDIUM", 0.5),
]

_SEVERITY_BY_PRIORITY = {"FATAL": "CRITICAL", "CRITICAL": "CRITICAL", "ERROR": "HIGH",
                         "HIGH": "HIGH", "WARN": "MEDIUM", "WARNING": "MEDIUM"}


def match(log_text: str) -> Optional[Signature]:
    return next((s for s in SIGNATURES if s.pattern.search(log_text)), None)


class RulesProvider:
    name = "rules"
    model = MODEL

    async def analyze(self, prompt: Prompt, schema: Dict[str, Any], deadline: float,
                      model: Optional[str] = None) -> Answer:
        started = time.perf_counter()
        signature = match(prompt.log)
        if signature is None:
            fields: Dict[str, Any] = dict(
                summary="An error the rule set does not recognise.",
                root_cause="Unknown: no model was available to analyse this log.",
                recommendation="Read the log and its neighbours; retry the analysis when the "
                               "model is back.",
                severity=_SEVERITY_BY_PRIORITY.get((prompt.priority or "").upper(), "MEDIUM"),
                confidence=0.1)
        else:
            fields = dict(summary=signature.summary, root_cause=signature.root_cause,
                          recommendation=signature.recommendation,
                          severity=signature.severity, confidence=signature.confidence)
        return Answer(**fields, model=MODEL, provider=self.name,
                      latency_ms=int((time.perf_counter() - started) * 1000),
                      extra={"signature": signature.name if signature else None})
