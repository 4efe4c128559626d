"""The page's Markdown renderer, run in Chromium: what models write renders, and nothing in an
answer can become markup or script."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page

from tests.conftest import StartServer


async def render(page: Page, source: str) -> str:
    html: str = await page.evaluate(
        "async (src) => (await import('/static/markdown.js')).renderMarkdown(src)", source
    )
    return html


@pytest.fixture
async def md_page(start_server: StartServer, page: Page) -> Page:
    srv = await start_server()
    await page.goto(f"{srv.http}/static/index.html")
    return page


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("# Title", "<h3>Title</h3>"),
        ("one\ntwo\n\nthree", "<p>one<br>two</p><p>three</p>"),
        (
            "**bold** and *it* and `a<b`",
            "<p><strong>bold</strong> and <em>it</em> and <code>a&lt;b</code></p>",
        ),
        ("- a\n- b", "<ul><li>a</li><li>b</li></ul>"),
        ("1. a\n2. b", "<ol><li>a</li><li>b</li></ol>"),
        ("```sql\nSELECT 1 < 2\n```", '<pre data-lang="sql"><code>SELECT 1 &lt; 2</code></pre>'),
        ("```\nstill streaming", "<pre><code>still streaming</code></pre>"),
        (
            "| a | b |\n|---|--:|\n| 1 | 2 |",
            '<div class="table-wrap"><table><thead><tr><th>a</th><th class="align-right">b</th>'
            '</tr></thead><tbody><tr><td>1</td><td class="align-right">2</td></tr></tbody>'
            "</table></div>",
        ),
        ("> quoted", "<blockquote><p>quoted</p></blockquote>"),
        (
            "| a\\|b |\n|---|\n| 1\\|2 |",
            '<div class="table-wrap"><table><thead><tr><th>a|b</th></tr></thead><tbody>'
            "<tr><td>1|2</td></tr></tbody></table></div>",
        ),
        (
            "[site](https://example.com/a?b=1&c=2)",
            '<p><a href="https://example.com/a?b=1&amp;c=2" target="_blank" '
            'rel="noopener noreferrer">site</a></p>',
        ),
    ],
)
async def test_what_models_write_renders(md_page: Page, source: str, expected: str) -> None:
    assert await render(md_page, source) == expected


HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "[click](javascript:alert(1))",
    '[x](https://e.com/" onmouseover="alert(1))',
    "| <b>h</b> |\n|---|\n| <svg onload=alert(1)> |",
    "```\n</code></pre><script>alert(1)</script>\n```",
    "**<iframe src=//evil>**",
]


@pytest.mark.parametrize("source", HOSTILE)
async def test_nothing_in_an_answer_becomes_markup(md_page: Page, source: str) -> None:
    html = await render(md_page, source)
    # parse what the renderer made, the way the page uses it, and look for anything active
    found: Any = await md_page.evaluate(
        """(html) => {
            const box = document.createElement('div');
            box.innerHTML = html;
            const bad = box.querySelectorAll(
                'script, img, svg, iframe, b, [onerror], [onload], [onmouseover]');
            const links = [...box.querySelectorAll('a')].map(a => a.getAttribute('href'));
            return {bad: bad.length, links};
        }""",
        html,
    )
    assert found["bad"] == 0, html
    assert all(link.startswith("https://") for link in found["links"]), html
    assert "javascript:" not in html or "<a" not in html


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("```python title=main.py\nx = 1\n```", '<pre data-lang="python"><code>x = 1</code></pre>'),
        ("~~~ shell script\nls\n~~~", '<pre data-lang="shell"><code>ls</code></pre>'),
        ("```inline``` at line start", "<p><code>inline</code> at line start</p>"),
        ("``` x y | integer", '<pre data-lang="x"><code></code></pre>'),
    ],
)
async def test_odd_fences_render_and_end(md_page: Page, source: str, expected: str) -> None:
    assert await render(md_page, source) == expected


async def test_deep_quotes_stop_nesting(md_page: Page) -> None:
    html = await render(md_page, ">" * 5000 + " deep")
    assert html.count("<blockquote>") == 9 and html.endswith("</blockquote>" * 9)
    assert "deep" in html


async def test_numbers_are_marked_found_or_not(md_page: Page) -> None:
    marks: Any = await md_page.evaluate(
        """async () => {
            const m = await import('/static/markdown.js');
            const box = document.createElement('div');
            box.innerHTML = m.renderMarkdown(
                'North sold 1,250.5 and South 830.25; 12% more, not 1,250.55.');
            m.markNumbers(box, {found: [{text: '1,250.5', source: {label: 'SELECT …'}}],
                                not_found: [{text: '12%'}]});
            return [...box.querySelectorAll('mark')].map(x => [x.className, x.textContent]);
        }"""
    )
    assert marks == [["found", "1,250.5"], ["not-found", "12%"]]
