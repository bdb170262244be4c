"""Fingerprints of multi-line stack traces (Java, Python, Go).

A trace is the same error when it is thrown by the same exception type from the same code path.
Line numbers move with every release and messages carry ids, so the fingerprint keeps only the
exception types of the chain and the top frames of each (the frames nearest the throw site),
as qualified function names without line numbers, arguments or machine-specific paths.

Pure functions, no I/O.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, cast

from bifrost_streams.mining.masking import mask

DEFAULT_TOP_FRAMES = 5


@dataclass(frozen=True)
class Failure:
    """One exception of a chain: its type and its frames, innermost (the throw site) first."""
    exception: str
    frames: Tuple[str, ...]


@dataclass(frozen=True)
class StackTrace:
    language: str
    chain: Tuple[Failure, ...]  # outermost exception first, then its causes


# --- Java -------------------------------------------------------------------------------------

# "at pkg.Class.method(File.java:42)", maybe with logback's "~[app.jar:1.0]" after it. The
# source part is always printed ("(Unknown Source)", "(Native Method)"), which tells a frame
# from a line of text that starts with "at".
_JAVA_AT = re.compile(r"^\s*+at\s++([\w$<>/@\-]++\.[\w$.<>/@\-]++)\([^()]*+\)"
                      r"(?:\s++~?\[[^\]]*+\])?\s*+$")
_JAVA_CAUSE = re.compile(r"^\s*Caused by:\s*(.*)$")
_JAVA_SUPPRESSED = re.compile(r"^\s+Suppressed:")
_JAVA_TYPE = re.compile(r"^([A-Za-z_$][\w$]*+(?:\.[A-Za-z_$][\w$]*+)*+)(?::|\s*$)")
# A type inside a longer line: lower-case package parts, then a capitalised name that ends in
# Exception, Error or Throwable ("x.y.BadThing" is not one). The header is untrusted text, so
# the search starts only where a dotted name starts: searched from every position of a long
# "a.a.a.a..." it took seconds. Parts that cannot belong to the type ("Outer." in
# "com.x.Outer.InnerException", as a plain search would also skip them) are skipped a whole
# package run at a time, so each part is read at most twice.
_JAVA_TYPE_ANYWHERE = re.compile(
    r"(?<![\w$.])(?:(?:[a-z_$][\w$]*+\.)*+[\w$]*+\.)*?"
    r"((?:[a-z_$][\w$]*+\.)*+[A-Z](?:\w*+\$)*\w*+"
    r"(?:(?<=[\w$]Exception)|(?<=[\w$]Error)|(?<=[\w$]Throwable))(?!\w))")
_THREAD_PREFIX = re.compile(r'^.*?Exception in thread "[^"]*"\s+')
# Synthetic class names carry counters and addresses that differ between JVM runs.
_JAVA_SYNTHETIC = [
    (re.compile(r"\$\$Lambda\$\d+(?:/0x[0-9a-fA-F]+)?"), "$$Lambda"),
    (re.compile(r"\$\$Lambda/0x[0-9a-fA-F]+"), "$$Lambda"),
    (re.compile(r"(GeneratedMethodAccessor|GeneratedConstructorAccessor|\$Proxy)\d+"), r"\1"),
    (re.compile(r"\$\$(EnhancerBySpringCGLIB|SpringCGLIB|FastClassBySpringCGLIB)\$\$[0-9a-f]+"),
     r"$$\1"),
]


def _java_type(header: str) -> str:
    header = _THREAD_PREFIX.sub("", header.strip())
    match = _JAVA_TYPE.match(header)
    # A qualified name or a capitalised one ("java.io.IOException", "MyError") is the type.
    if match and ("." in match.group(1) or match.group(1)[:1].isupper()):
        return match.group(1)
    # The header may be a log line that ends in the exception ("... failed: x.y.BadThing: msg").
    found = _JAVA_TYPE_ANYWHERE.search(header)
    return found.group(1) if found else mask(header)


def _java_frame(name: str) -> str:
    # Synthetic names first: a lambda's "/0x..." address is not a module prefix.
    for pattern, replacement in _JAVA_SYNTHETIC:
        name = pattern.sub(replacement, name)
    # Drop a module or class-loader prefix ("java.base@17/", "app//"): it names the runtime.
    return name.rsplit("/", 1)[-1] if "/" in name else name


def _parse_java(lines: Sequence[str]) -> Optional[StackTrace]:
    first_at = next((i for i, line in enumerate(lines) if _JAVA_AT.match(line)), None)
    if first_at is None or first_at == 0:
        return None
    chain: List[Tuple[str, List[str]]] = [(_java_type(lines[first_at - 1]), [])]
    suppressed = False
    for line in lines[first_at:]:
        if not line or line.isspace():
            continue
        cause = _JAVA_CAUSE.match(line)
        if cause and not line[:1].isspace():
            chain.append((_java_type(cause.group(1)), []))
            suppressed = False
        elif _JAVA_SUPPRESSED.match(line):
            # Suppressed exceptions belong to cleanup code, not to the failure itself.
            suppressed = True
        elif not suppressed:
            at = _JAVA_AT.match(line)
            if at:
                chain[-1][1].append(_java_frame(at.group(1)))
    return StackTrace("java", tuple(Failure(t, tuple(f)) for t, f in chain))


# --- Python -----------------------------------------------------------------------------------

_PY_HEAD = "Traceback (most recent call last):"
_PY_FILE = re.compile(r'^\s*File "([^"]+)", line \d+(?:, in (.+))?\s*$')
_PY_EXC = re.compile(r"^([A-Za-z_][\w.]*)(?::.*)?$")


def _python_frame(path: str, function: Optional[str]) -> str:
    # Keep the last two path parts: install prefixes (venvs, /app, /srv) differ per host, the
    # package and module name do not.
    parts = re.split(r"[/\\]", path.replace("site-packages", ""))
    tail = "/".join(p for p in parts[-2:] if p)
    return f"{tail}:{function or '?'}"


def _parse_python(lines: Sequence[str]) -> Optional[StackTrace]:
    starts = [i for i, line in enumerate(lines) if line.strip().endswith(_PY_HEAD)]
    if not starts:
        return None
    chain: List[Failure] = []
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(lines)
        frames: List[str] = []
        exception = None
        for line in lines[start + 1:end]:
            if not line or line.isspace():
                continue
            file_line = _PY_FILE.match(line)
            if file_line:
                frames.append(_python_frame(file_line.group(1), file_line.group(2)))
            elif frames and not line[:1].isspace() and line.strip():
                exc = _PY_EXC.match(line.strip())
                exception = exc.group(1) if exc else mask(line.strip())
                break
        if frames:
            # Python prints the outermost call first; the throw site is the last frame.
            chain.append(Failure(exception or "?", tuple(reversed(frames))))
    if not chain:
        return None
    # Python prints the cause before the exception it caused: put the outermost first, as Java.
    return StackTrace("python", tuple(reversed(chain)))


# --- Go ---------------------------------------------------------------------------------------

_GO_PANIC = re.compile(r"^(?:panic|fatal error):\s*(.*)$")
# GOTRACEBACK=system adds "gp=0x... m=0" to the goroutine header and "fp=... sp=... pc=..." to
# the file lines.
_GO_GOROUTINE = re.compile(r"^goroutine \d+ (?:[^\[]* )?\[[^\]]*\]:\s*$")
_GO_FILE = re.compile(r"^\s+\S+\.go:\d+(?:\s+\+0x[0-9a-f]+)?(?:\s+\w+=0x[0-9a-f]+)*\s*$")
# The call ends where its arguments, " in goroutine N" or trailing blanks begin. Tried only
# at the start of a blank run (or at the "(" after one), so a line with a long blank run in
# the middle is read once, not once per blank.
_GO_CALL = re.compile(r"^(?:created by\s+)?(\S.*?)(?:(?<!\s)|(?=\())(?:\([^()]*+\))?"
                      r"(?:\s++in goroutine \d++)?\s*+$")


def _go_runtime(frame: str) -> bool:
    return frame in ("panic", "runtime.gopanic") or frame.startswith(
        ("runtime.panic", "runtime.sigpanic", "runtime.throw", "runtime.fatal"))


def _parse_go(lines: Sequence[str]) -> Optional[StackTrace]:
    panic_at = next((i for i, line in enumerate(lines) if _GO_PANIC.match(line)), None)
    routine_at = next((i for i, line in enumerate(lines) if _GO_GOROUTINE.match(line)), None)
    if panic_at is None or routine_at is None or routine_at < panic_at:
        return None
    # mask() folds the blanks left around it.
    panic = cast(re.Match, _GO_PANIC.match(lines[panic_at]))  # matched just above
    message = panic.group(1).replace("[recovered]", " ").strip()
    frames: List[str] = []
    body = lines[routine_at + 1:]
    # Only the first goroutine is the one that panicked; the others are bystanders. A frame is
    # a call line followed by its file line; anything else ("exit status 2") is not a frame.
    for index, line in enumerate(body):
        if not line.strip() or _GO_GOROUTINE.match(line):
            break
        if _GO_FILE.match(line) or index + 1 >= len(body) or not _GO_FILE.match(body[index + 1]):
            continue
        call = _GO_CALL.match(line)
        if call:
            frames.append(call.group(1))
    # Every panic passes through the runtime's panic machinery first; those frames say nothing
    # about where the program failed.
    while len(frames) > 1 and _go_runtime(frames[0]):
        frames.pop(0)
    return StackTrace("go", (Failure(mask(message), tuple(frames)),))


# --- Entry points -----------------------------------------------------------------------------

_PARSERS = (("Traceback", _parse_python), ("goroutine ", _parse_go), ("at", _parse_java))


def parse(text: str) -> Optional[StackTrace]:
    """The stack trace in a multi-line text, or None when the text holds none we know."""
    lines = text.replace("\r\n", "\n").split("\n")
    for needle, parser in _PARSERS:
        # A word each kind of trace must hold spares reading every line for the others.
        if needle not in text:
            continue
        trace = parser(lines)
        if trace is not None and any(f.frames for f in trace.chain):
            return trace
    return None


def signature(trace: StackTrace, top: int = DEFAULT_TOP_FRAMES) -> str:
    """A readable one-line form of what the fingerprint covers."""
    parts = [f"{f.exception} at {' < '.join(f.frames[:top])}" for f in trace.chain]
    return f"[{trace.language}] " + " | caused by: ".join(parts)


def fingerprint(trace: StackTrace, top: int = DEFAULT_TOP_FRAMES) -> str:
    """A short hex digest of the exception chain and the top frames of each exception."""
    return hashlib.sha256(signature(trace, top).encode("utf-8")).hexdigest()[:24]
