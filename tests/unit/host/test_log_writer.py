"""The host's log line writer: Functions-style lines, in logging order, nothing lost at close."""

from __future__ import annotations

import io
import logging
import re
import threading

from devhost.logs import LineWriter
from tests.support.waiting import wait_until

LINE = re.compile(r"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] ")


def _logger(name: str, writer: LineWriter) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers[:] = [writer]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_lines_from_many_threads_are_all_written_whole_and_each_threads_in_order() -> None:
    stream = io.StringIO()
    writer = LineWriter(stream)
    logger = _logger("test.log_writer.threads", writer)

    def log_many(thread: int) -> None:
        for n in range(2000):
            logger.info("thread %d line %d", thread, n)

    threads = [threading.Thread(target=log_many, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()

    lines = stream.getvalue().splitlines()
    assert len(lines) == 8000
    assert all(LINE.match(line) for line in lines)
    for t in range(4):
        mine = [int(line.rsplit(" ", 1)[1]) for line in lines if f"thread {t} line" in line]
        assert mine == list(range(2000))


def test_an_error_keeps_its_traceback_under_its_line() -> None:
    stream = io.StringIO()
    writer = LineWriter(stream)
    logger = _logger("test.log_writer.errors", writer)
    try:
        raise ValueError("bad city")
    except ValueError:
        logger.exception("Executed 'Functions.say_hello' (Failed)")
    writer.close()

    text = stream.getvalue()
    first, *rest = text.splitlines()
    assert LINE.match(first) and first.endswith("Executed 'Functions.say_hello' (Failed)")
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "ValueError: bad city"


def test_a_broken_stream_does_not_stop_the_writer_thread() -> None:
    attempts: list[str] = []

    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            attempts.append(text)
            raise BrokenPipeError("the terminal went away")

    writer = LineWriter(Broken())
    logger = _logger("test.log_writer.broken", writer)
    logger.info("first")
    wait_until(lambda: bool(attempts), 5, "the first write")
    logger.info("second")  # written only if the thread survived the first failure
    # Joined in a thread of the test's own, so that a writer thread that died or hangs fails the test
    # instead of blocking it.
    closer = threading.Thread(target=writer.close)
    closer.start()
    closer.join(timeout=5)
    assert not closer.is_alive()
    assert "first" in attempts[0] and "second" in attempts[-1]
