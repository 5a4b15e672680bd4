"""The register of sources and published figures (assets/teaching/sources.toml and claims.toml).

Every source has its fields, every claim cites a source of the register, every key the code
asks for exists, and no published figure of the register is typed a second time in the app's
code (pages, lab_ui, llm_core): a page reads it through `llm_core.literature` instead.
"""

import ast
import io
import math
import re
import tokenize
from pathlib import Path

import pytest

from llm_core import literature

ROOT = Path(__file__).resolve().parents[1]
SCANNED = [*sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "lab_ui").glob("*.py")), *sorted((ROOT / "llm_core").rglob("*.py")), ROOT / "app.py"]
SCANNED = [p for p in SCANNED if p.name != "literature.py"]
# Numbers that equal a published figure by coincidence, not because the figure was typed: (file, number, why).
COINCIDENCES = {
    ("llm_core/compression/costs.py", 8192.0): "the context assumed for the dense 1T row (not a published figure); Llama 2 70B's width is read from the register",
    ("llm_core/bench.py", 1.9): "a validation loss the benchmark times the crossing of (not InstructGPT's 1.9% of uses)",
}
SCALE = {"k": 1e3, "thousand": 1e3, "M": 1e6, "million": 1e6, "B": 1e9, "billion": 1e9, "T": 1e12, "trillion": 1e12,
         "GB": 1e9, "TB": 1e12, "TFLOP/s": 1e12, "TFLOPS": 1e12, "%": 1.0}
IN_TEXT = re.compile(r"(?<![\w.{])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?(?:e\d+)?)(?:\s?(TFLOP/s|TFLOPS|thousand|million|billion|trillion|GB|TB|[kMBT%])(?![A-Za-z]))?"
                     r"(?:\s(\w+))?")


MODEL_NAME = re.compile(r"(?:Llama 2|Llama|InstructGPT|GPT-3|GPT-2|Chinchilla|Gopher|PaLM|Switch-C) \d+(?:\.\d+)?[MBT]\b")


def _register_values() -> dict[float, tuple[str, bool]]:
    """Every number of the register -> (a claim key, whether it is a percentage); a percentage also as a fraction."""
    out = {}
    for key, c in literature.claims().items():
        for v in (c.value if isinstance(c.value, tuple) else (c.value,)):
            out.setdefault(v, (key, c.unit == "%"))
            if c.unit == "%":
                out.setdefault(v / 100, (key, False))
    return out


def _unit_words() -> dict[float, set[str]]:
    """Every number of the register -> the first word of its unit ("GPUs", "days", "layers"): a number written with it is that claim."""
    out: dict[float, set[str]] = {}
    for c in literature.claims().values():
        if c.unit and c.unit != "%":
            for v in (c.value if isinstance(c.value, tuple) else (c.value,)):
                out.setdefault(v, set()).add(c.unit.split()[0].lower())
    return out


UNIT_WORDS = _unit_words()


def _distinctive(v: float) -> bool:
    """A number that rarely appears by chance: two or more significant digits, not a power of ten, not a small whole
    number, not a multiple of 64 (a model width or a context length of our own, such as 768 or 4096)."""
    if v == 0 or (v == int(v) and (abs(v) < 100 or (v % 64 == 0 and v < 1e5))) or math.log10(abs(v)) == int(math.log10(abs(v))):
        return False
    mantissa = f"{abs(v):.6e}".split("e")[0].rstrip("0").rstrip(".")
    return len(mantissa.replace(".", "")) >= 2


def _docstring_lines(tree) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def _match(v: float, register: dict, percent: bool | None = None, word: str = "") -> str | None:
    """The claim key whose number equals v (only percentages when `percent`, none of them when False; one with that unit word first)."""
    keys = [key for r, (key, is_pct) in register.items() if math.isclose(v, r, rel_tol=1e-6) and (percent is None or is_pct == percent)]
    claims = literature.claims()
    by_unit = [k for k in [c.key for c in claims.values() if math.isclose(v, c.value if not isinstance(c.value, tuple) else -1, rel_tol=1e-6)]
               if word and claims[k].unit.split()[0].lower() == word]
    return (by_unit or keys or [None])[0]


def _power_of_ten(v: float) -> bool:
    return v > 0 and math.isclose(math.log10(v), round(math.log10(v)), abs_tol=1e-12)


# Python 3.12 splits an f-string into FSTRING_START, FSTRING_MIDDLE (its text) and FSTRING_END tokens (PEP 701)
STRING_TOKENS = {tokenize.STRING} | ({tokenize.FSTRING_MIDDLE} if hasattr(tokenize, "FSTRING_MIDDLE") else set())


def typed_figures(path: Path, register: dict[float, str], coincidences=COINCIDENCES) -> list[tuple[int, str, str]]:
    """(line, text, claim key) for every number in the code or its strings that equals a published figure of the register."""
    text = path.read_text()
    skip = _docstring_lines(ast.parse(text))
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.start[0] in skip:
            continue
        if tok.type == tokenize.NUMBER:
            try:
                v = float(tok.string.replace("_", "").rstrip("jJ"))
            except ValueError:
                continue
            key = _match(v, register) if _distinctive(v) else None
            if key:
                found.append((tok.start[0], tok.string, key))
        elif tok.type in STRING_TOKENS:
            names = [m.span() for m in MODEL_NAME.finditer(tok.string)]  # "Llama 2 70B" names a model
            for m in IN_TEXT.finditer(tok.string):
                if any(a <= m.start() < b for a, b in names):
                    continue
                number, unit, word = m.group(1), m.group(2), (m.group(3) or "").lower()
                v = float(number.replace(",", "")) * SCALE.get(unit or "", 1.0)
                if unit == "%":
                    key = _match(v, register, percent=True) if _distinctive(v) else None
                else:  # a magnitude (70B, 2e12, 140 GB), a distinctive number, or a number followed by its claim's unit (6,000 GPUs, 12 days)
                    with_unit = word and any(word in units for r, units in UNIT_WORDS.items() if math.isclose(v, r, rel_tol=1e-6))
                    spelled = with_unit or ((unit or "e" in number) and not _power_of_ten(v))  # 1e9 in "/ 1e9" is a unit, not a figure
                    key = _match(v, register, percent=False, word=word if with_unit else "") if spelled or _distinctive(v) else None
                if key:
                    found.append((tok.start[0], m.group(0), key))
    rel = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
    return [(line, shown, key) for line, shown, key in found if (rel, _match_value(shown)) not in coincidences]


def _match_value(shown: str) -> float:
    m = IN_TEXT.search(shown)
    return float(m.group(1).replace(",", "")) * SCALE.get(m.group(2) or "", 1.0) if m else float(shown.replace("_", ""))


def test_every_source_and_claim_is_complete_and_every_claim_cites_a_source_of_the_register():
    sources, claims = literature.sources(), literature.claims()
    assert len(sources) >= 25 and len(claims) >= 40
    for key, s in sources.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]+", key) and s.url.startswith("https://") and 1900 < s.year < 2100, key
        assert s.title and s.authors and s.venue and s.short and s.used_for, key
        assert s.cite() == f"{s.short} {s.year}"
    for key, c in claims.items():
        assert c.source in sources and c.where and c.what, key
        values = c.value if isinstance(c.value, tuple) else (c.value,)
        assert all(math.isfinite(v) and v > 0 for v in values), key
        if c.unit == "%":
            assert all(v <= 100 for v in values), key
    # the keys the lead's glossary links to
    for key in ("vaswani2017", "sennrich2016", "su2021", "nostalgebraist2020", "holtzman2020", "robertson2009", "guo2017", "rafailov2023",
                "schulman2017", "ouyang2022", "williams1992", "shao2024", "kaplan2020", "hoffmann2022", "wei2022", "schaeffer2023", "brown2020",
                "kalai2024", "lewis2020", "carlini2021", "touvron2023", "karpathy2023", "jordan2024"):
        assert key in sources, key


def test_lookups_give_citations_and_refuse_unknown_keys_with_a_sentence():
    assert literature.cite("hoffmann2022") == "Hoffmann et al. 2022"
    assert literature.cite("brown_addition_175b") == "Brown et al. 2020, Section 3.9.1 and Figure 3.10"
    assert literature.value("deletang_chinchilla70b_enwik9") == 8.3
    assert literature.value("nanochat_tokens_per_param") == (8.0, 10.5)
    assert "arXiv" not in literature.reference("robertson2009") and "1706.03762" in literature.reference("vaswani2017")
    with pytest.raises(literature.LiteratureError, match="no claim 'nope'"):
        literature.claim("nope")
    with pytest.raises(literature.LiteratureError, match="neither a source nor a claim"):
        literature.cite("nope")


def test_every_register_key_the_code_asks_for_exists():
    asked = re.compile(r"\b(?:claim|value|cite|source|reference)\(\s*[\"']([a-z][a-z0-9_]+)[\"']")
    known = set(literature.sources()) | set(literature.claims())
    missing = [(str(p.relative_to(ROOT)), k) for p in SCANNED for k in asked.findall(p.read_text()) if k not in known]
    assert not missing, f"keys not in the register: {missing}"


def test_no_published_figure_is_typed_outside_the_register():
    register = _register_values()
    typed = {str(p.relative_to(ROOT)): hits for p in SCANNED if (hits := typed_figures(p, register))}
    assert not typed, "published figures typed in the code instead of read from assets/teaching/claims.toml: " + "; ".join(
        f"{path}:{line} {shown!r} (= {key})" for path, hits in typed.items() for line, shown, key in hits)


def test_the_scan_finds_a_typed_figure(tmp_path):
    """The scan can fail: a page that types Kaplan's exponent, or Llama 2's GPU-hours in a sentence, is caught."""
    page = tmp_path / "page.py"
    page.write_text('"""A page."""\nALPHA = 0.076\nst.markdown(f"Llama 2 70B took 1,720,320 GPU-hours and {x:.2f} s; gzip gets 32.3%, 10% held out, a 70B model")\n'
                    'st.caption("6,000 GPUs for 12 days, 12 heads")\n')
    hits = typed_figures(page, _register_values(), coincidences={})
    assert {key for _, _, key in hits} == {"kaplan_alpha_n", "llama2_70b_gpu_hours", "deletang_gzip_enwik9", "chinchilla_params", "talk_gpus", "talk_days"}
    assert len(hits) == 6  # "12 heads" is not a published figure: a small number is flagged only with its claim's unit
