from bifrost_streams.mining.stacktrace import fingerprint, parse, signature

JAVA = """2026-01-31 10:00:00 ERROR [main] c.a.Svc - request {req} failed
java.lang.IllegalStateException: order {order} not found
\tat com.acme.orders.OrderService.{method}(OrderService.java:{line})
\tat com.acme.orders.OrderController.get(OrderController.java:{line2})
\tat com.acme.web.Router$$Lambda${lam}/0x00000008001{lam}a040.apply(Unknown Source)
\tat jdk.internal.reflect.GeneratedMethodAccessor{gen}.invoke(Unknown Source)
\tat java.base/java.lang.Thread.run(Thread.java:833)
Caused by: {cause}: timeout after {ms}ms
\tat org.postgresql.Driver.connect(Driver.java:{line3})
\tat com.acme.db.Pool.get(Pool.java:7)
\t... 4 more
"""


def java(**kw):
    values = dict(req=42, order=123, method="load", line=42, line2=17, lam=12, gen=3,
                  cause="java.sql.SQLException", ms=3000, line3=100)
    values.update(kw)
    return JAVA.format(**values)


def fp(text, top=5):
    trace = parse(text)
    assert trace is not None
    return fingerprint(trace, top)


def test_java_parse_reads_the_chain():
    trace = parse(java())
    assert trace.language == "java"
    assert [f.exception for f in trace.chain] == ["java.lang.IllegalStateException",
                                                  "java.sql.SQLException"]
    assert trace.chain[0].frames[0] == "com.acme.orders.OrderService.load"
    assert trace.chain[0].frames[2] == "com.acme.web.Router$$Lambda.apply"
    assert trace.chain[0].frames[3] == "jdk.internal.reflect.GeneratedMethodAccessor.invoke"
    assert trace.chain[0].frames[-1] == "java.lang.Thread.run"  # module prefix dropped
    assert trace.chain[1].frames == ("org.postgresql.Driver.connect", "com.acme.db.Pool.get")


def test_java_same_trace_with_other_lines_messages_and_synthetic_names_is_the_same():
    other = java(req=7, order=9, line=99, line2=1, lam=345, gen=17, ms=15, line3=3)
    assert fp(java()) == fp(other)


def test_java_other_exception_type_differs():
    assert fp(java()) != fp(java().replace("IllegalStateException", "IllegalArgumentException"))


def test_java_other_top_frame_differs():
    assert fp(java()) != fp(java(method="save"))


def test_java_other_cause_differs():
    assert fp(java()) != fp(java(cause="java.net.SocketTimeoutException"))


def test_java_frames_below_the_top_n_do_not_count():
    deeper = java().replace("java.lang.Thread.run", "java.lang.VirtualThread.run")
    assert fp(java(), top=3) == fp(deeper, top=3)
    assert fp(java(), top=5) != fp(deeper, top=5)


def test_java_exception_in_thread_header():
    text = ('Exception in thread "main" java.lang.NullPointerException\n'
            "\tat com.x.Y.method(Y.java:42)\n")
    trace = parse(text)
    assert trace.chain[0].exception == "java.lang.NullPointerException"
    assert trace.chain[0].frames == ("com.x.Y.method",)


PYTHON = '''Traceback (most recent call last):
  File "{root}/main.py", line {l1}, in <module>
    main()
  File "{root}/main.py", line {l2}, in main
    load({arg})
  File "{root}/acme/loader.py", line {l3}, in {func}
    raise {exc}(f"bad id {{x}}")
{exc}: bad id {arg}
'''


def python(**kw):
    values = dict(root="/srv/app", l1=3, l2=30, l3=12, func="load", exc="ValueError", arg=7)
    values.update(kw)
    return PYTHON.format(**values)


def test_python_parse():
    trace = parse(python())
    assert trace.language == "python"
    assert trace.chain[0].exception == "ValueError"
    # The throw site (printed last) comes first.
    assert trace.chain[0].frames == ("acme/loader.py:load", "app/main.py:main",
                                     "app/main.py:<module>")


def test_python_same_trace_with_other_lines_message_and_install_root_is_the_same():
    assert fp(python()) == fp(python(root="/opt/deploy/app", l1=4, l2=31, l3=99, arg=12345))


def test_python_other_exception_type_differs():
    assert fp(python()) != fp(python(exc="KeyError"))


def test_python_other_top_frame_differs():
    assert fp(python()) != fp(python(func="load_all"))


def test_python_chained_exceptions_are_all_in_the_fingerprint():
    cause = ('Traceback (most recent call last):\n'
             '  File "/srv/app/acme/db.py", line 10, in connect\n'
             '    raise OSError("x")\n'
             '{exc}: connection refused\n\n'
             'The above exception was the direct cause of the following exception:\n\n')
    chained = cause.format(exc="OSError") + python()
    trace = parse(chained)
    assert [f.exception for f in trace.chain] == ["ValueError", "OSError"]
    assert fp(chained) != fp(python())
    assert fp(chained) != fp(cause.format(exc="TimeoutError") + python())


GO = '''panic: {msg}

goroutine {gid} [running]:
main.{func}(...)
\t/home/{user}/app/main.go:{l1}
main.(*Server).handle(0xc000010000, {{0x4b2f60, 0x5}})
\t/home/{user}/app/server.go:{l2} +0x1d
main.main()
\t/home/{user}/app/main.go:{l3} +0x{off}

goroutine 7 [chan receive]:
main.other()
\t/home/{user}/app/other.go:5 +0x25
exit status 2
'''


def go(**kw):
    values = dict(msg="runtime error: index out of range [5] with length 3", gid=1,
                  func="lookup", user="u", l1=12, l2=40, l3=8, off="25")
    values.update(kw)
    return GO.format(**values)


def test_go_parse():
    trace = parse(go())
    assert trace.language == "go"
    assert trace.chain[0].exception == "runtime error: index out of range [<NUM>] with length <NUM>"
    # Only the panicking goroutine counts, and "exit status 2" is no frame.
    assert trace.chain[0].frames == ("main.lookup", "main.(*Server).handle", "main.main")


def test_go_same_panic_with_other_lines_offsets_values_and_paths_is_the_same():
    other = go(msg="runtime error: index out of range [9] with length 2", gid=33, user="ci",
               l1=13, l2=41, l3=9, off="3f")
    assert fp(go()) == fp(other)


def test_go_other_panic_differs():
    assert fp(go()) != fp(go(msg="runtime error: invalid memory address or nil pointer "
                                 "dereference"))


def test_go_other_top_frame_differs():
    assert fp(go()) != fp(go(func="find"))


def test_go_runtime_panic_frames_are_skipped():
    text = ("panic: boom [recovered]\n\tpanic: boom\n\ngoroutine 7 [running]:\n"
            "panic({0x45d9e0, 0x4b4b18})\n\t/usr/local/go/src/runtime/panic.go:884 +0x213\n"
            "main.worker()\n\t/app/w.go:9 +0x27\n"
            "created by main.main in goroutine 1\n\t/app/main.go:5 +0x25\n")
    trace = parse(text)
    assert trace.chain[0].exception == "boom"
    assert trace.chain[0].frames == ("main.worker", "main.main")


def test_go_system_traceback_details_do_not_count():
    system = (go().replace("goroutine 1 [running]:", "goroutine 1 gp=0xc000002380 m=0 mp=0x5e4 "
                                                     "[running]:")
              .replace("server.go:40 +0x1d", "server.go:40 +0x1d fp=0xc00 sp=0xc00 pc=0x48"))
    assert fp(system) == fp(go())


def test_languages_do_not_collide():
    assert len({fp(java()), fp(python()), fp(go())}) == 3


def test_multi_line_text_without_a_trace_is_not_parsed():
    assert parse("request failed\nretrying in 5s\ngave up") is None
    assert parse("at the end of the day\nnothing") is None


def test_signature_is_readable():
    text = signature(parse(java()), top=1)
    assert text == ("[java] java.lang.IllegalStateException at com.acme.orders.OrderService.load"
                    " | caused by: java.sql.SQLException at org.postgresql.Driver.connect")
