"""Page-wide fixes for readers Streamlit's defaults leave out, injected once per run by app.py.

Captions' contrast comes from the theme's text colour (.streamlit/config.toml), which applies from
the first paint. This module adds, selecting Streamlit's public `data-testid` attributes and ARIA
labels only (a Streamlit release that renames them makes a rule do nothing, and the browser tests
of tests/test_browser_a11y.py fail; it never breaks a page):
- code and text blocks wrap long lines instead of scrolling sideways: a region that scrolls must be
  reachable from the keyboard, and Streamlit's are not (axe's `scrollable-region-focusable`); on a
  phone nothing is then wider than the screen;
- syntax highlighting in colours that keep 6:1 against the code background (Streamlit's theme
  gave keywords and strings below 4.5:1: axe's `color-contrast`);
- captions drawn in the palette's muted grey at full opacity (Streamlit fades a caption with
  opacity 0.6, which left a link inside it at 2.5:1: axe's `color-contrast`);
- tables as wide as their column at most, their cells wrapping (a chart's data table of eleven
  columns in half the page scrolled sideways, out of the keyboard's reach); on a narrow screen the
  small tables of `lab_ui.widgets.table_html` take smaller type and tighter cells, wrapping at word
  breaks (on a phone the Overview's table of Llama 2 70B's figures was 394 px wide in 358, and the
  main area scrolled sideways; breaking anywhere instead split words like "published" even on a wide
  screen);
- app.py's invisible warm-up (a 1-pixel container in the sidebar, removed at the end of a session's
  first run) never shows as a scrolling region when a run is cut short before it is removed;
- a visible focus ring on every focusable element, for keyboard users;
- a link to a chapter in the page wraps its label onto a second line instead of cutting it off (Streamlit
  clips it to one line with no ellipsis: on a phone "Why scale matters: loss against size, data and
  compute, measured on this machine" lost its last five words);
- a narrow chart's text a little smaller (each chart is a CSS container): plotly sizes text in pixels for
  a desktop's width, and a chart on a phone (358 px) or in half of a small laptop's page (274 px at 1024)
  had titles running past its edge and a bar chart's 20 labels running into each other;
- on a narrow screen (a phone), choosing a chapter in the sidebar closes the sidebar, which
  otherwise stays open over the chapter (Streamlit 1.67 leaves it open). This needs a few lines of
  JavaScript: the script is a constant of this module, never built from user input.
"""

from __future__ import annotations

import streamlit as st

from lab_ui import palette

CODE_BACKGROUND = "#F6F8FA"  # every syntax colour below has at least 6:1 on it (WCAG AA asks 4.5:1)
NARROW_PX = 768  # below this width Streamlit draws the sidebar over the page (its mobile breakpoint)
NARROW_TABLE_PX = 640  # below this width a small table takes smaller type, as lab_ui.table_fit's and the charts' data tables do
NARROW_CHART_PX = 400  # a chart narrower than this draws its text smaller: a phone (358 px), half a small laptop's page (274 px); half a 1300 px page (412 px) is as it was

CSS = f"""
[data-testid="stCode"] pre, [data-testid="stCode"] code, [data-testid="stText"] {{
  white-space: pre-wrap !important; overflow-wrap: anywhere; }}
[data-testid="stCode"] pre {{ overflow-x: visible !important; }}
[data-testid="stCode"] pre {{ background: {CODE_BACKGROUND} !important; }}
[data-testid="stCode"] .token {{ color: {palette.INK}; }}
[data-testid="stCode"] .token.keyword, [data-testid="stCode"] .token.builtin, [data-testid="stCode"] .token.boolean {{ color: #0B5A8C; }}
[data-testid="stCode"] .token.string, [data-testid="stCode"] .token.triple-quoted-string {{ color: #8A4B00; }}
[data-testid="stCode"] .token.comment {{ color: {palette.MUTED}; font-style: italic; }}
[data-testid="stCode"] .token.number, [data-testid="stCode"] .token.parameter, [data-testid="stCode"] .token.variable {{ color: #6B2E75; }}
[data-testid="stCode"] .token.function, [data-testid="stCode"] .token.class-name {{ color: #006B4F; }}
:focus-visible {{ outline: 3px solid {palette.BLUE} !important; outline-offset: 2px; }}
[data-testid="stCaptionContainer"] {{ opacity: 1 !important; color: {palette.MUTED} !important; }}
.st-key-lab_warm_up {{ overflow: hidden !important; visibility: hidden !important; }}
[data-testid="stTable"] table {{ width: 100%; }}
[data-testid="stTable"] :is(th, td, th *, td *) {{ white-space: normal !important; overflow-wrap: anywhere !important; min-width: 0 !important; }}
@media (max-width: {NARROW_TABLE_PX}px) {{ table.lab-plain {{ font-size: 0.75rem !important; }}
  table.lab-plain :is(th, td) {{ padding: 4px 3px !important; overflow-wrap: break-word; }} }}
[data-testid="stMain"] [data-testid="stPageLink-NavLink"] :is(span, [data-testid="stMarkdownContainer"], p) {{
  white-space: normal !important; overflow: visible !important; }}
[data-testid="stPlotlyChart"] {{ container-type: inline-size; }}
@container (max-width: {NARROW_CHART_PX}px) {{
  .js-plotly-plot .gtitle {{ font-size: 13px !important; }}
  .js-plotly-plot :is(.xtitle, .ytitle, .y2title) {{ font-size: 12px !important; }}
  .js-plotly-plot :is(.xtick, .ytick, .y2tick) text {{ font-size: 10px !important; }} }}
"""

CLOSE_SIDEBAR_ON_NAVIGATION = f"""
(() => {{
  if (window.__llmLabCloseSidebar) return;
  window.__llmLabCloseSidebar = true;
  document.addEventListener("click", (event) => {{
    if (!event.target.closest('[data-testid="stSidebarNavLink"]') || window.innerWidth >= {NARROW_PX}) return;
    setTimeout(() => {{
      const close = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
      if (close && close.getAttribute("aria-expanded") !== "false") close.click();
    }}, 0);
  }}, true);
}})();
"""


def inject() -> None:
    st.html(f"<style>{CSS}</style><script>{CLOSE_SIDEBAR_ON_NAVIGATION}</script>", unsafe_allow_javascript=True)
