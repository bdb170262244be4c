"""The rules provider: every family named by real systems' wording, look-alikes left alone."""
import asyncio
import random
from collections import defaultdict

import pytest

from bifrost_streams import config
from bifrost_streams.families import IDS, UNKNOWN, parent_of
from bifrost_streams.ingestion import loggen
from bifrost_streams.prompts import build_prompt
from bifrost_streams.providers.answer import AnalysisAnswer
from bifrost_streams.providers.rules import (RulesProvider, builtin, match, parse_signatures,
                                             signature_set)

# (family, text): messages as the systems named write them.
HITS = [
    ("network.timeout", "java.net.SocketTimeoutException: Read timed out"),
    ("network.timeout", 'Get "http://inventory:8080/items": context deadline exceeded '
                        "(Client.Timeout exceeded while awaiting headers)"),
    ("network.timeout", "Error: connect ETIMEDOUT 10.2.3.4:443"),
    ("network.timeout", "upstream timed out (110: Connection timed out) while reading "
                        "response header from upstream, client: 10.0.0.7"),
    ("network.timeout", "requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='api', "
                        "port=443): Read timed out. (read timeout=10)"),
    ("network.connection_refused", "java.net.ConnectException: Connection refused"),
    ("network.connection_refused", "dial tcp 10.96.0.12:6379: connect: connection refused"),
    ("network.connection_refused", "Error: read ECONNRESET at TCP.onStreamRead"),
    ("network.connection_refused", "connect() failed (113: No route to host) while connecting "
                                   "to upstream"),
    ("network.dns", "java.net.UnknownHostException: payments.internal: Name or service not "
                    "known"),
    ("network.dns", "dial tcp: lookup orders-db on 10.96.0.10:53: no such host"),
    ("network.dns", "Error: getaddrinfo ENOTFOUND api.partner.example"),
    ("network.dns", "socket.gaierror: [Errno -3] Temporary failure in name resolution"),
    ("network.tls", "javax.net.ssl.SSLHandshakeException: PKIX path building failed"),
    ("network.tls", "x509: certificate has expired or is not yet valid"),
    ("network.tls", "ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] "
                    "certificate verify failed: self signed certificate"),
    ("network.tls", "net/http: TLS handshake timeout"),
    ("resource.memory", "java.lang.OutOfMemoryError: Java heap space"),
    ("resource.memory", "Last State: Terminated  Reason: OOMKilled  Exit Code: 137"),
    ("resource.memory", "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap "
                        "out of memory"),
    ("resource.memory", "kernel: Out of memory: Killed process 4242 (java) total-vm:8GB"),
    ("resource.memory", "fatal error: runtime: out of memory"),
    ("resource.disk", "OSError: [Errno 28] No space left on device: '/var/lib/app/tmp'"),
    ("resource.disk", "PANIC: could not write to file \"pg_wal/xlogtemp.123\": No space left "
                      "on device"),
    ("resource.disk", "WARN disk usage at 94% on /data (threshold 90%)"),
    ("resource.disk", "The node was low on resource: ephemeral-storage."),
    ("resource.file_descriptors", "java.net.SocketException: Too many open files"),
    ("resource.file_descriptors", "Error: EMFILE: too many open files, open '/app/x.json'"),
    ("resource.file_descriptors", "http: Accept error: accept tcp [::]:8080: accept4: too many "
                                  "open files; retrying in 5ms"),
    ("resource.threads", "java.lang.OutOfMemoryError: unable to create new native thread"),
    ("resource.threads", "RuntimeError: can't start new thread"),
    ("resource.threads", "java.util.concurrent.RejectedExecutionException: Task "
                         "FutureTask@1a2b rejected from ThreadPoolExecutor@3c4d"),
    ("resource.threads", "runtime: program exceeds 10000-thread limit"),
    ("database.connection_pool", "HikariPool-1 - Connection is not available, request timed "
                                 "out after 30000ms."),
    ("database.connection_pool", "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 "
                                 "overflow 10 reached, connection timed out"),
    ("database.connection_pool", "FATAL: sorry, too many clients already"),
    ("database.connection_pool", "SQLSTATE[HY000] [1040] Too many connections"),
    ("database.connection_pool", "WARN Connection pool usage at 90%"),
    ("database.deadlock", "ERROR: deadlock detected DETAIL: Process 123 waits for ShareLock"),
    ("database.deadlock", "Deadlock found when trying to get lock; try restarting transaction"),
    ("database.deadlock", "Lock wait timeout exceeded; try restarting transaction"),
    ("database.deadlock", "org.springframework.dao.CannotAcquireLockException: could not "
                          "execute statement"),
    ("database.constraint", 'ERROR: duplicate key value violates unique constraint '
                            '"users_email_key"'),
    ("database.constraint", "Duplicate entry 'alice@example.com' for key 'users.email'"),
    ("database.constraint", 'insert or update on table "orders" violates foreign key '
                            'constraint "orders_user_id_fkey"'),
    ("database.constraint", "sqlite3.IntegrityError: UNIQUE constraint failed: users.email"),
    ("database.query", 'ERROR: relation "order_items" does not exist at character 15'),
    ("database.query", "You have an error in your SQL syntax; check the manual that "
                       "corresponds to your MySQL server version"),
    ("database.query", "ERROR: canceling statement due to statement timeout"),
    ("database.query", "Slow query detected: 5400ms on table orders"),
    ("database.query", "Unknown column 'createdAt' in 'field list'"),
    ("auth.authentication", 'FATAL: password authentication failed for user "app"'),
    ("auth.authentication", "Access denied for user 'app'@'10.0.0.5' (using password: YES)"),
    ("auth.authentication", "io.jsonwebtoken.ExpiredJwtException: JWT expired at "
                            "2026-01-01T00:00:00Z"),
    ("auth.authentication", "POST /oauth/token returned status 401"),
    ("auth.authentication", "error: You must be logged in to the server (Unauthorized)"),
    ("auth.authorization", 'pods is forbidden: User "system:serviceaccount:shop:app" cannot '
                           'list resource "pods" in API group ""'),
    ("auth.authorization", "ERROR: permission denied for table invoices"),
    ("auth.authorization", "An error occurred (AccessDeniedException) when calling the "
                           "GetSecretValue operation: User is not authorized to perform"),
    ("auth.authorization", "HTTP 403 Forbidden from api.partner.example"),
    ("auth.authorization", "DELETE /admin/users/42 returned status 403"),
    ("auth.authorization", "org.apache.kafka.common.errors.TopicAuthorizationException: Not "
                           "authorized to access topics: [orders]"),
    ("os.permission", "Error: EACCES: permission denied, open '/var/log/app/app.log'"),
    ("os.permission", "PermissionError: [Errno 13] Permission denied: '/etc/app/key.pem'"),
    ("os.permission", "java.nio.file.AccessDeniedException: /data/uploads/tmp"),
    ("os.permission", "nginx: [emerg] open() \"/run/nginx.pid\" failed (13: Permission denied)"),
    ("os.permission", "mkdir /var/lib/app: read-only file system"),
    ("config.invalid", "Could not resolve placeholder 'db.url' in value \"${db.url}\""),
    ("config.invalid", 'Error: configmap "app-config" not found'),
    ("config.invalid", 'nginx: [emerg] unknown directive "proxy_passs" in '
                       "/etc/nginx/conf.d/app.conf:12"),
    ("config.invalid", "Deprecated API /api/v1/legacy called by client 4711"),
    ("config.invalid", "Error: container has runAsNonRoot and image will run as root "
                       "(CreateContainerConfigError)"),
    ("code.null_reference", 'java.lang.NullPointerException: Cannot invoke "String.length()" '
                            'because "name" is null'),
    ("code.null_reference", "AttributeError: 'NoneType' object has no attribute 'get'"),
    ("code.null_reference", "panic: runtime error: invalid memory address or nil pointer "
                            "dereference"),
    ("code.null_reference", "TypeError: Cannot read properties of undefined (reading 'id')"),
    ("code.null_reference", "System.NullReferenceException: Object reference not set to an "
                            "instance of an object."),
    ("code.type_error", "java.lang.ClassCastException: class java.lang.String cannot be cast "
                        "to class java.lang.Integer"),
    ("code.type_error", "TypeError: unsupported operand type(s) for +: 'int' and 'str'"),
    ("code.type_error", "TypeError: user.save is not a function"),
    ("code.type_error", "panic: interface conversion: interface {} is string, not int"),
    ("code.bounds", "java.lang.ArrayIndexOutOfBoundsException: Index 5 out of bounds for "
                    "length 3"),
    ("code.bounds", "IndexError: list index out of range"),
    ("code.bounds", "panic: runtime error: index out of range [3] with length 3"),
    ("code.bounds", "KeyError: 'user_id'"),
    ("code.bounds", "java.util.NoSuchElementException: No value present"),
    ("data.serialization", "com.fasterxml.jackson.core.JsonParseException: Unexpected "
                           "character ('<' (code 60))"),
    ("data.serialization", "json.decoder.JSONDecodeError: Expecting value: line 1 column 1 "
                           "(char 0)"),
    ("data.serialization", "SyntaxError: Unexpected token < in JSON at position 0"),
    ("data.serialization", "json: cannot unmarshal string into Go struct field Order.total "
                           "of type float64"),
    ("data.serialization", "org.apache.kafka.common.errors.SerializationException: Unknown "
                           "magic byte!"),
    ("dependency.unavailable", "Payment gateway returned status 502"),
    ("dependency.unavailable", "upstream connect error or disconnect/reset before headers. "
                               "reset reason: connection failure"),
    ("dependency.unavailable", "io.github.resilience4j.circuitbreaker.CallNotPermittedException:"
                               " CircuitBreaker 'inventory' is OPEN"),
    ("dependency.unavailable", "no live upstreams while connecting to upstream"),
    ("dependency.unavailable", "Retrying request to inventory-service (attempt 2/3)"),
    ("dependency.rate_limited", "HTTP 429 Too Many Requests from api.github.com"),
    ("dependency.rate_limited", "POST /v1/charges returned status 429, retry after 2s"),
    ("dependency.rate_limited", "An error occurred (ThrottlingException) when calling the "
                                "PutRecords operation: Rate exceeded"),
    ("dependency.rate_limited", "ProvisionedThroughputExceededException: The level of "
                                "configured provisioned throughput for the table was exceeded"),
    ("dependency.rate_limited", 'limiting requests, excess: 20.5 by zone "api", client: '
                                "10.0.0.1"),
    ("messaging.broker", "org.apache.kafka.common.errors.NotLeaderOrFollowerException: For "
                         "requests intended only for the leader"),
    ("messaging.broker", "Connection to node -1 (localhost/127.0.0.1:9092) could not be "
                         "established. Broker may not be available."),
    ("messaging.broker", "CommitFailedException: Commit cannot be completed since the group "
                         "has already rebalanced"),
    ("messaging.broker", "Channel shutdown: channel error; protocol method: "
                         "#method<channel.close>(reply-code=404, reply-text=NOT_FOUND - no "
                         "queue 'orders' in vhost '/')"),
    ("messaging.broker", "org.apache.kafka.common.errors.TimeoutException: Topic orders not "
                         "present in metadata after 60000 ms."),
    ("container.crash", "Back-off restarting failed container app in pod shop-7d9 "
                        "(CrashLoopBackOff)"),
    ("container.crash", "Liveness probe failed: HTTP probe failed with statuscode: 500"),
    ("container.crash", "Readiness probe failed: Get \"http://10.1.2.3:8080/ready\": context "
                        "deadline exceeded"),
    ("container.crash", "app.service: Main process exited, code=exited, status=1/FAILURE"),
    ("container.image", 'Failed to pull image "registry/shop:1.4": rpc error: code = NotFound '
                        "desc = manifest unknown"),
    ("container.image", "Error: ImagePullBackOff"),
    ("container.image", 'Warning  Failed  kubelet  Error: ErrImagePull'),
]

# (family a signature must NOT give, text): look-alikes that are not that failure.
NEAR_MISSES = [
    ("network.timeout", "request_timeout_ms=30000 set for client payments"),
    ("network.connection_refused", "Connection established to db-primary:5432"),
    ("network.dns", "Resolved host payments.internal to 10.0.0.12 in 3ms"),
    ("network.tls", "TLS enabled on port 443 with certificate valid until 2027-01-01"),
    ("resource.memory", "heap size set to 512m, memory usage 45% of limit"),
    ("resource.disk", "disk usage at 45% on /data"),
    ("resource.file_descriptors", "opened 200 files for the nightly import"),
    ("resource.threads", "thread pool size set to 20"),
    ("database.connection_pool", "HikariPool-1 - Start completed."),
    ("database.deadlock", "fatal error: all goroutines are asleep - deadlock!"),
    ("database.constraint", "javax.validation.ConstraintViolationException: email: must be a "
                            "well-formed email address"),
    ("database.query", "Query finished in 12ms, 3 rows"),
    ("auth.authentication", "user 42 authenticated successfully"),
    ("auth.authorization", "role admin granted to user 42"),
    ("os.permission", "file permissions updated to 0644 on /srv/app"),
    ("config.invalid", "configuration loaded from /etc/app/config.yaml"),
    ("code.null_reference", "field middle_name was empty; default applied"),
    ("code.type_error", "content type set to application/json"),
    ("code.bounds", "index rebuilt in 30ms; key rotated"),
    ("data.serialization", "serialized 200 records to JSON in 3ms"),
    ("dependency.unavailable", "GET /health returned status 200 in 503 microseconds"),
    ("dependency.rate_limited", "order 429 created, total 12.50 EUR"),
    ("messaging.broker", "Kafka producer started; consumer group joined, partitions assigned"),
    ("container.crash", "container app started, exit code 0 expected on shutdown"),
    ("container.image", "Successfully pulled image \"registry/shop:1.4\" in 2.1s"),
]


def _family(text):
    signature = match(text)
    return parent_of(signature.family) if signature else UNKNOWN


@pytest.mark.parametrize("family, text", HITS)
def test_real_messages_get_their_family(family, text):
    assert _family(text) == family, match(text)


@pytest.mark.parametrize("family, text", NEAR_MISSES)
def test_look_alikes_do_not(family, text):
    assert _family(text) != family, match(text)


def test_every_family_has_two_signatures_two_hits_and_a_near_miss():
    families = [family for family in IDS if family != UNKNOWN]
    signatures, hits = defaultdict(set), defaultdict(int)
    for family, text in HITS:
        hits[family] += 1
        signatures[family].add(match(text).id)
    by_family = defaultdict(set)
    for signature in builtin():
        by_family[parent_of(signature.family)].add(signature.id)
    missing_near = set(families) - {family for family, _ in NEAR_MISSES}
    assert not missing_near
    for family in families:
        assert hits[family] >= 2 and len(signatures[family]) >= 2, family
        assert len(by_family[family]) >= 2, family


def test_every_loggen_error_and_warning_kind_gets_a_family():
    for level in ("WARN", "ERROR"):
        for message in loggen.MESSAGES[level]:
            text = loggen._fill(message, random.Random(7))
            assert _family(text) != UNKNOWN, text
    for head, frames, cause in loggen.TRACES:
        lines = [head] + [f"\tat {frame}" for frame in frames]
        if cause is not None:
            lines += [f"Caused by: {cause[0]}"] + [f"\tat {frame}" for frame in cause[1]]
        assert _family("\n".join(lines)) != UNKNOWN, head


def test_loggen_entries_as_generated_all_get_a_family():
    rng = random.Random(3)
    for _ in range(400):
        level, service, stamp, lines = loggen.entry(rng, 1_800_000_000.0)
        if level in ("WARN", "ERROR"):
            text = loggen.render(level, service, stamp, lines, "text")
            assert _family(text) != UNKNOWN, text


def _answer(text, priority="ERROR", provider=None):
    prompt = build_prompt(text, service="svc", environment="prod", priority=priority)
    return asyncio.run((provider or RulesProvider()).analyze(prompt, {}, 0.0))


def test_answers_validate_and_are_honest_about_confidence():
    for family, text in HITS:
        answer = _answer(text)
        AnalysisAnswer(summary=answer.summary, root_cause=answer.root_cause,
                       recommendation=answer.recommendation, severity=answer.severity,
                       confidence=answer.confidence, category=answer.category)
        assert answer.provider == "rules" and answer.model == "rules-v1"
        assert 0 < answer.confidence <= 0.6 and answer.category == family
        assert answer.extra["signature"] == match(text).id


@pytest.mark.parametrize("text", ["ERROR something nobody has seen",
                                  "WARN the frobnicator reports state 7", ""])
def test_an_unknown_text_is_unknown_at_low_confidence(text):
    answer = _answer(text)
    assert answer.category == UNKNOWN and answer.confidence <= 0.1
    assert answer.extra["signature"] is None and answer.severity == "HIGH"


USER_FILE = """
signatures:
- id: ledger_drift
  family: database.constraint.ledger
  severity: critical
  confidence: 0.6
  all: [ledger, drift]
  summary: The ledger drifted.
  root_cause: Two writers booked the same entry.
  recommendation: Run the reconciliation job.
- id: timeout
  family: dependency.unavailable
  severity: LOW
  pattern: 'flux capacitor (timed out|stalled)'
  summary: The flux capacitor stalled.
  root_cause: It does that.
  recommendation: Restart it.
"""


def test_a_user_file_comes_first_and_replaces_a_built_in_by_id(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(USER_FILE)
    provider = RulesProvider(str(path))
    answer = _answer("ERROR ledger drift of 3 entries on account 9", provider=provider)
    assert answer.category == "database.constraint.ledger" and answer.severity == "CRITICAL"
    assert answer.extra["signature"] == "ledger_drift"
    answer = _answer("Flux Capacitor timed out", provider=provider)
    assert answer.category == "dependency.unavailable"
    # The built-in "timeout" is replaced; the other built-ins still answer.
    assert sum(s.id == "timeout" for s in signature_set(str(path))) == 1
    assert _answer("java.net.SocketTimeoutException: Read timed out",
                   provider=provider).category == "network.timeout"
    assert _answer("IndexError: list index out of range",
                   provider=provider).category == "code.bounds"


@pytest.mark.parametrize("text, fragment", [
    ("signatures: nope", "a list under 'signatures'"),
    ("signatures: [{id: x, family: network.nope, severity: HIGH, any: [a], summary: s, "
     "root_cause: r, recommendation: c}]", "not a failure family"),
    ("signatures: [{id: x, family: unknown, severity: HIGH, any: [a], summary: s, "
     "root_cause: r, recommendation: c}]", "not a failure family"),
    ("signatures: [{id: x, family: network.dns, severity: HIGH, pattern: '(a)\\1', "
     "summary: s, root_cause: r, recommendation: c}]", "RE2"),
    ("signatures: [{id: x, family: network.dns, severity: HIGH, summary: s, root_cause: r, "
     "recommendation: c}]", "needs any, all or pattern"),
    ("signatures: [{id: x, family: network.dns, severity: HIGH, any: [a], confidence: 0.9, "
     "summary: s, root_cause: r, recommendation: c}]", "confidence"),
    ("signatures: [{id: x, family: network.dns, severity: HIGH, any: [a], summary: s, "
     "root_cause: r, recommendation: c, colour: red}]", "unknown keys"),
    ("signatures: [{id: x, family: network.dns, severity: HIGH, any: [a], summary: s, "
     "root_cause: r, recommendation: c}, {id: x, family: network.dns, severity: HIGH, "
     "any: [b], summary: s, root_cause: r, recommendation: c}]", "twice"),
    ("signatures: [{", "not YAML"),
])
def test_a_broken_file_is_refused_saying_why(text, fragment):
    with pytest.raises(ValueError) as error:
        parse_signatures(text)
    assert fragment in str(error.value)


def test_a_broken_rules_file_stops_the_start_up_naming_the_setting(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("signatures:\n- id: x\n  family: network.dns\n")
    with pytest.raises(config.ConfigError) as error:
        config.load({"BIFROST_RULES_FILE": str(path), "BIFROST_CONFIG": "/dev/null"})
    assert str(error.value).startswith("BIFROST_RULES_FILE") and "signature 1" in str(error.value)
    with pytest.raises(config.ConfigError) as error:
        config.load({"BIFROST_RULES_FILE": str(tmp_path / "absent.yaml"),
                     "BIFROST_CONFIG": "/dev/null"})
    assert "BIFROST_RULES_FILE" in str(error.value) and "cannot be read" in str(error.value)
    path.write_text(USER_FILE)
    settings = config.load({"BIFROST_RULES_FILE": str(path), "BIFROST_CONFIG": "/dev/null"})
    assert settings.rules_file == str(path)


def test_the_built_in_file_is_valid_and_every_family_is_named():
    families = {parent_of(s.family) for s in builtin()}
    assert families == set(IDS) - {UNKNOWN}


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_submitted_loggen_file_gets_a_family_for_every_entry(fmt, tmp_path):
    """What `bifrost-submit` of a `bifrost-loggen` file sends, answered by the rules (the
    answer on a fresh machine without a model)."""
    import io
    from pathlib import Path

    from bifrost_streams.ingestion.submit import requests_for

    out = io.StringIO()
    loggen.run(out, rate=0, count=600, fmt=fmt, seed=11)
    requests, _ = requests_for(Path("app.log"), out.getvalue().splitlines(),
                               {"ERROR", "WARN", "FATAL"}, "analysis.result", 1 << 20)
    assert len(requests) > 100
    for _, request in requests:
        answer = _answer(request["log_content"], priority=request.get("priority") or "ERROR")
        assert answer.category != UNKNOWN, request["log_content"]
