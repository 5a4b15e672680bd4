"""The load test's socket session (`browser_harness.SocketSession`) against a real `streamlit run`: it
finds every chapter in the server's navigation, and each of its requests makes the server do what a
click in the sidebar does, one run of that chapter's page, so the socket walkers of
benchmarks/load_test.py load the server as browsers would (they only skip the drawing)."""

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from browser_harness import SocketSession, StreamlitServer

from lab_ui import course

pytestmark = pytest.mark.slow


def test_a_socket_session_opens_every_chapter_as_a_click_does():
    chapters = [c for c in course.chapters() if course.existing(c)]

    async def walk(url):
        async with SocketSession(url) as session:
            visits = [await session.open()]  # the first page, as a fresh browser opens the app
            for chapter in chapters[1:]:
                visits.append(await session.open(chapter.title))
            return session.pages, visits

    server = StreamlitServer(env={"LLM_LAB_RUN_TIMES": "1"}).start(timeout=120)
    try:
        with ThreadPoolExecutor(1) as thread:  # its own event loop: a browser test before it leaves Playwright's running here
            pages, visits = thread.submit(asyncio.run, walk(server.url)).result()
        log = server.log_path.read_text()
    finally:
        server.stop()
    assert set(pages) == {c.title for c in chapters}
    assert [exceptions for _, exceptions in visits] == [[]] * len(chapters)
    assert all(seconds > 0 for seconds, _ in visits)
    runs = re.findall(r"LLM_LAB_RUN page=(\S+) session=(\S+)", log)
    assert [page for page, _ in runs] == [Path(c.path).stem for c in chapters]  # one run per visit, in order
    assert len({session for _, session in runs}) == 1
